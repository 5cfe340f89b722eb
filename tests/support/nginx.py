"""nginx with the MTA-STS server blocks mailauth wrote, for ``nginx -t`` and for serving.

The generated file is a list of ``server`` blocks for nginx's ``http {}``. A test runs it
as written, with three changes a host does not need: the certificate paths point at a
certificate made for the test (``trustme``), the ``root`` paths are placed under the
staging root (:func:`consumers.rehost`), and, to serve, ``listen 443`` becomes
``127.0.0.1:PORT``. Everything else (server names, the policy location, its content type,
the 404s) is nginx reading mailauth's text.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

from support.net import free_port
from support.process import ServerProcess
from support.tools import require_binary

_CERT = re.compile(r"^(\s*ssl_certificate(?:_key)?)\s+\S+;$", re.MULTILINE)
_LISTEN = re.compile(r"^\s*listen\s+(?:\[::\]:)?443 ssl;\n", re.MULTILINE)


def stage(
    generated: Path, root: Path, work: Path, cert: Path, key: Path, port: int | None = None
) -> Path:
    """A main nginx.conf in ``work`` that includes a staged copy of ``generated``."""
    from support.consumers import rehost

    work.mkdir(parents=True, exist_ok=True)
    text = rehost(generated.read_text(), root)

    def swap(match: re.Match[str]) -> str:
        directive = match.group(1)
        return f"{directive} {key if directive.endswith('_key') else cert};"

    text = _CERT.sub(swap, text)
    if port is not None:
        text = _LISTEN.sub("", text).replace(
            "server {\n", f"server {{\n    listen 127.0.0.1:{port} ssl;\n"
        )
    staged = work / "mta-sts-servers.conf"
    staged.write_text(text)
    main = work / "nginx.conf"
    main.write_text(
        "\n".join(
            [
                "user root;",  # the staging root is the test's own (0700) directory
                f"error_log {work / 'error.log'} info;",
                f"pid {work / 'nginx.pid'};",
                "events { worker_connections 64; }",
                "http {",
                "    access_log off;",
                f"    include {staged};",
                "}",
                "",
            ]
        )
    )
    return main


class NginxServer(ServerProcess):
    """nginx in the foreground on 127.0.0.1 and a free port, serving :func:`stage`'s config."""

    name = "nginx"

    def __init__(self, generated: Path, root: Path, cert: Path, key: Path, workdir: Path) -> None:
        super().__init__(workdir=workdir)
        self.binary = require_binary("nginx")
        self.port = free_port()
        self.conf = stage(generated, root, workdir, cert, key, self.port)

    def argv(self) -> list[str]:
        return [self.binary, "-c", str(self.conf), "-p", str(self.workdir), "-g", "daemon off;"]

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

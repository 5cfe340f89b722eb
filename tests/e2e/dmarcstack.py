"""dkimpy-milter, OpenDMARC and a network namespace, for the dual-signing and DMARC tests.

Builds on :mod:`e2e.mailstack` (Postfix instance, Maildir) and :mod:`support` (servers):

* :func:`dual_config` is a mailauth.yaml (as a dict) with dkimpy-milter as the signer, an
  RSA and an Ed25519 selector per domain, and optionally OpenDMARC; every path below the
  test's directory, to be applied with ``--root /``.
* :class:`SyslogSink` catches what a daemon sends to syslog. dkimpy-milter and OpenDMARC
  log only there, and the test machine has no ``/dev/log``: the daemon runs in a private
  mount namespace whose ``/dev`` is a directory of the test holding the few device nodes
  it needs and a ``log`` socket the sink reads. The host's ``/dev`` is never touched.
* :class:`NetNamespace` is a network namespace of the test's own, with ``lo`` up, the
  TEST-NET-1 address 192.0.2.25 on it (an "outside" client) and
  ``/etc/netns/NAME/resolv.conf`` pointing at 127.0.0.1, where a named of the test answers
  inside the namespace. OpenDMARC and dkimpy-milter ask the system resolver, so they find
  the generated zones there and nowhere else.
* :class:`DkimpyMilterServer`, :class:`OpenDmarcServer`, :class:`NetnsNamed` and
  :class:`NetnsPostfix` run the real programs, in the namespace when given one.
* :func:`send_via` sends one message over SMTP from a Python process inside the namespace,
  from a chosen source address, and reports the server's answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from support import NamedServer, ServerProcess, require_binary

from e2e.mailstack import SIGNED_DOMAINS, PostfixInstance, PostfixServer, mailauth_config

OUTSIDE_ADDRESS = "192.0.2.25"  # TEST-NET-1 (RFC 5737): never routed anywhere
RSA_SELECTOR = "e2e"
ED_SELECTOR = "ed"

# -- mailauth.yaml -------------------------------------------------------------------------


def dual_config(
    base: Path,
    *,
    dkimpy_port: int,
    main_cf: Path,
    queue_directory: Path,
    dmarc_port: int | None = None,
    reject_failures: bool = False,
    policy: str = "none",
    authserv_id: str = "mail.slackbox.fr",
    domains: tuple[str, ...] = SIGNED_DOMAINS,
) -> dict[str, Any]:
    """mailstack's config with dkimpy-milter (RSA + Ed25519) instead of OpenDKIM."""
    config = mailauth_config(
        base, main_cf=main_cf, queue_directory=queue_directory, domains=domains
    )
    config["defaults"]["dmarc"] = {"p": policy}
    config["defaults"]["dkim"] = {
        "selectors": [
            {"name": RSA_SELECTOR, "algorithm": "rsa", "bits": 2048},
            {"name": ED_SELECTOR, "algorithm": "ed25519"},
        ]
    }
    # dkimpy-milter reads its keys as root before switching users: root keeps them.
    config["keys"] = {"directory": str(base / "keys")}
    targets = config["targets"]
    del targets["opendkim"]
    targets["dkimpy_milter"] = {
        "config": str(base / "dkimpy/dkimpy-milter.conf"),
        "directory": str(base / "dkimpy"),
        "socket": f"inet:{dkimpy_port}@127.0.0.1",
        "pid_file": str(base / "run-dkimpy/dkimpy-milter.pid"),
        "authserv_id": authserv_id,
        "internal_hosts": ["127.0.0.1"],
    }
    if dmarc_port is not None:
        targets["opendmarc"] = {
            "config": str(base / "opendmarc/opendmarc.conf"),
            "socket": f"inet:{dmarc_port}@127.0.0.1",
            "pid_file": str(base / "run-opendmarc/opendmarc.pid"),
            "history_file": str(base / "run-opendmarc/history.dat"),
            "reject_failures": reject_failures,
            "public_suffix_list": "/usr/share/publicsuffix/public_suffix_list.dat",
        }
    return config


def add_submission_service(instance: PostfixInstance, port: int, daemon_name: str) -> None:
    """A second smtpd on 127.0.0.1:PORT that tags its mail as submitted (to be signed)."""
    with (instance.config_dir / "master.cf").open("a") as master:
        master.write(
            f"127.0.0.1:{port} inet n - n - - smtpd\n"
            "  -o syslog_name=postfix/submission\n"
            f"  -o milter_macro_daemon_name={daemon_name}\n"
        )


def tag_cleanup_service(instance: PostfixInstance, daemon_name: str) -> None:
    """``-o milter_macro_daemon_name=NAME`` on cleanup: mail from sendmail/pickup gets it.

    cleanup runs only non_smtpd_milters (smtpd runs its own), so SMTP mail keeps the name
    of the smtpd service it came through.
    """
    master = instance.config_dir / "master.cf"
    lines = master.read_text().splitlines(keepends=True)
    for index, line in enumerate(lines):
        fields = line.split()
        if fields[:2] == ["cleanup", "unix"]:
            lines.insert(index + 1, f"  -o milter_macro_daemon_name={daemon_name}\n")
            break
    else:
        raise ValueError("master.cf has no cleanup service")
    master.write_text("".join(lines))


# -- syslog ---------------------------------------------------------------------------------

_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}
# Runs as: sh -c SCRIPT DEVDIR PROGRAM ARGS...; in a private mount namespace.
_BIND_DEV = 'mount --bind "$0" /dev && exec "$@"'


class SyslogSink:
    """A ``/dev`` of the test's own whose ``log`` socket writes every message to a file.

    ``wrap`` is put in front of a daemon's command line: the daemon gets a private mount
    namespace (``unshare --mount``) with this directory bound on ``/dev``.
    """

    def __init__(self, directory: Path) -> None:
        self.devdir = directory / "dev"
        self.log_path = directory / "syslog.log"
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Self:
        self.devdir.mkdir(mode=0o755, parents=True)
        for name, (major, minor) in _DEVICES.items():
            node = self.devdir / name
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(node, 0o666)
        self.log_path.write_text("")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.devdir / "log"))
        os.chmod(self.devdir / "log", 0o666)  # daemons write to it after dropping root
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._receive, name="syslog-sink", daemon=True)
        self._thread.start()
        return self

    def _receive(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            line = data.decode("utf-8", "replace").rstrip("\n")
            with self._lock, self.log_path.open("a") as log:
                log.write(line + "\n")

    def wrap(self) -> list[str]:
        return [
            require_binary("unshare"),
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            _BIND_DEV,
            str(self.devdir),
        ]

    def text(self) -> str:
        with self._lock:
            try:
                return self.log_path.read_text(errors="replace")
            except FileNotFoundError:
                return ""

    def lines(self, program: str) -> list[str]:
        """Messages of ``program`` (the tag before ``[pid]:``), without the syslog prefix."""
        out = []
        for line in self.text().splitlines():
            head, sep, message = line.partition("]: ")
            if sep and head.rsplit(" ", 1)[-1].split("[", 1)[0] == program:
                out.append(message)
        return out

    def wait_for(self, program: str, fragment: str, count: int = 1, timeout: float = 15) -> None:
        """Wait until ``program`` has logged ``count`` messages and one contains ``fragment``.

        A daemon's port answering does not mean its start-up messages have reached this
        sink: syslog is a datagram socket read by a thread, so on a loaded machine the
        lines arrive later. Waiting here, before the daemons stop, keeps the test honest.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.lines(program)
            if len(lines) >= count and any(fragment in line for line in lines):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- network namespace ----------------------------------------------------------------------

_PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)\n"
    "    data = c.recv(512) if len(sys.argv) > 3 else b'ok'\n"
    "    c.close()\n"
    "except OSError:\n"
    "    sys.exit(1)\n"
    "sys.exit(0 if data.startswith(sys.argv[3].encode() if len(sys.argv) > 3 else b'') else 1)\n"
)


class NetNamespace:
    """``ip netns add NAME``, loopback up, 192.0.2.25 on it, a resolv.conf for 127.0.0.1."""

    def __init__(self, prefix: str = "mailauth") -> None:
        self.name = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
        self.etc = Path("/etc/netns") / self.name
        self.ip = require_binary("ip")
        self._created = False

    @property
    def prefix(self) -> list[str]:
        return [self.ip, "netns", "exec", self.name]

    def _ip(self, *args: str) -> None:
        result = subprocess.run(
            [self.ip, *args], capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")

    def create(self) -> Self:
        self._ip("netns", "add", self.name)
        self._created = True
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2\n")
        self._ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        self._ip(
            "netns", "exec", self.name, "ip", "addr", "add", f"{OUTSIDE_ADDRESS}/32", "dev", "lo"
        )
        return self

    def remove(self) -> None:
        if self._created:
            with contextlib.suppress(RuntimeError):
                self._ip("netns", "delete", self.name)
            self._created = False
        shutil.rmtree(self.etc, ignore_errors=True)

    def python(
        self, code: str, *args: str, stdin: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``code`` with this interpreter inside the namespace."""
        return subprocess.run(
            [*self.prefix, sys.executable, "-I", "-S", "-c", code, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def accepts(self, port: int, banner: str = "") -> bool:
        args = ["127.0.0.1", str(port), *([banner] if banner else [])]
        return self.python(_PROBE, *args, timeout=10).returncode == 0

    def __enter__(self) -> Self:
        try:
            return self.create()
        except BaseException:
            self.remove()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


def _accepts_here(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# -- servers --------------------------------------------------------------------------------


class _SyslogServer(ServerProcess):
    """A milter that logs only to syslog: its log is its output plus what the sink got."""

    program = ""

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        *,
        workdir: Path,
        sink: SyslogSink,
        netns: NetNamespace | None = None,
    ) -> None:
        super().__init__(
            argv,
            workdir=workdir,
            wrap=[*(netns.prefix if netns else []), *sink.wrap()],
            start_timeout=20.0,
            stop_timeout=5.0,
            # libmilter notices SIGTERM only at its next 5 s poll; nothing is lost by KILL.
            stop_signal=signal.SIGKILL,
        )
        self.port = port
        self.sink = sink
        self.netns = netns

    def is_ready(self) -> bool:
        if self.netns is not None:
            return self.netns.accepts(self.port)
        return _accepts_here(self.port)

    def syslog(self) -> list[str]:
        return self.sink.lines(self.program)

    def log_text(self) -> str:
        own = super().log_text()
        return own + "".join(f"[syslog] {line}\n" for line in self.syslog())


class DkimpyMilterServer(_SyslogServer):
    """``dkimpy-milter CONF`` (the Debian program as installed)."""

    name = "dkimpy-milter"
    program = "dkimpy-milter"

    def __init__(
        self,
        conf: Path,
        port: int,
        *,
        workdir: Path,
        sink: SyslogSink,
        netns: NetNamespace | None = None,
    ) -> None:
        argv = [require_binary("dkimpy-milter"), str(conf)]
        super().__init__(argv, port, workdir=workdir, sink=sink, netns=netns)


class OpenDmarcServer(_SyslogServer):
    """``opendmarc -f -c CONF``."""

    name = "opendmarc"
    program = "opendmarc"

    def __init__(
        self,
        conf: Path,
        port: int,
        *,
        workdir: Path,
        sink: SyslogSink,
        netns: NetNamespace | None = None,
    ) -> None:
        argv = [require_binary("opendmarc"), "-f", "-c", str(conf)]
        super().__init__(argv, port, workdir=workdir, sink=sink, netns=netns)


class NetnsNamed(NamedServer):
    """named on 127.0.0.1:53 inside a namespace; ready when it answers there (dig)."""

    def __init__(
        self, zones: Sequence[tuple[str, Path]], netns: NetNamespace, *, workdir: Path
    ) -> None:
        super().__init__(zones, port=53, workdir=workdir, wrap=netns.prefix)
        self.netns = netns
        self.dig = require_binary("dig")

    def is_ready(self) -> bool:
        for zone, _ in self.zones:
            query = ["@127.0.0.1", "-p", "53", "+norec", "+time=1", "+tries=1", zone, "SOA"]
            result = subprocess.run(
                [*self.netns.prefix, self.dig, *query],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if "status: NOERROR" not in result.stdout or " aa" not in result.stdout:
                return False
        return True


class NetnsPostfix(PostfixServer):
    """A test Postfix started inside the namespace; ready at its banner there."""

    def __init__(self, instance: PostfixInstance, netns: NetNamespace) -> None:
        super().__init__(instance)
        self.wrap = netns.prefix
        self.netns = netns

    def is_ready(self) -> bool:
        if self._master is None:
            self._master = self.master_pid()
        return self.netns.accepts(self.instance.port, banner="220")


# -- sending --------------------------------------------------------------------------------

_SEND = """
import json, smtplib, sys
host, port, source, sender, rcpt = sys.argv[1:6]
message = sys.stdin.buffer.read()
try:
    with smtplib.SMTP(host, int(port), local_hostname="client.example",
                      source_address=(source, 0), timeout=30) as smtp:
        smtp.sendmail(sender, [rcpt], message)
    print(json.dumps({"code": 250, "text": ""}))
except smtplib.SMTPResponseException as exc:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    print(json.dumps({"code": exc.smtp_code, "text": text}))
except smtplib.SMTPRecipientsRefused as exc:
    code, text = next(iter(exc.recipients.values()))
    print(json.dumps({"code": code, "text": text.decode("utf-8", "replace")}))
"""


@dataclass(frozen=True)
class SmtpAnswer:
    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return self.code == 250


def send_via(
    netns: NetNamespace,
    port: int,
    sender: str,
    recipient: str,
    message: bytes,
    *,
    source: str = OUTSIDE_ADDRESS,
) -> SmtpAnswer:
    """Send from ``source`` inside the namespace; the final SMTP answer (250 or the error)."""
    result = netns.python(_SEND, "127.0.0.1", str(port), source, sender, recipient, stdin=message)
    if result.returncode != 0 or not result.stdout.strip():
        raise AssertionError(
            f"sending from {source} failed to run:\n{result.stdout.decode()}"
            f"{result.stderr.decode()}"
        )
    answer = json.loads(result.stdout)
    return SmtpAnswer(int(answer["code"]), str(answer["text"]))

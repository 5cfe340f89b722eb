"""`mailauth verify` at scale against a real named: a zone refused, a zone that times out,
and the zones that answer still checked; ``--zone`` to check only some.

named (127.0.0.1, a high port) serves three zones of the applied slackbox example, each
its own way:

* slackbox.fr: served, as written by apply;
* unixbox.fr: configured with ``allow-query { none; }``: named answers REFUSED;
* silent.test: forwarded (``forward only``) to a UDP socket that never replies, so named
  answers nothing before verify's short ``--timeout``.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import NamedServer, allow_create, copy_example, run_mailauth

pytestmark = pytest.mark.e2e

SILENT_ZONE = """\
  - name: silent.test
    mode: zone
    soa: {mname: ns.slackbox.fr, rname: hostmaster@slackbox.fr}
    ns: [ns.slackbox.fr]
    records:
      - {name: "@", type: A, value: 192.0.2.7}

domains:
"""


class RecursingNamed(NamedServer):
    """NamedServer with recursion on for localhost: only so that a forward zone works."""

    def named_conf(self) -> str:
        text = super().named_conf()
        assert text.count("    recursion no;\n") == 1
        return text.replace(
            "    recursion no;\n", "    recursion yes;\n    allow-recursion { 127.0.0.1; };\n"
        )


@dataclass
class Live:
    config: Path
    root: Path
    named: NamedServer

    def verify(self, *args: str, expect: int) -> str:
        nameserver = f"127.0.0.1:{self.named.port}"
        return run_mailauth(
            "verify", "-c", self.config, "--root", self.root, "--nameserver", nameserver,
            "--timeout", "0.5", *args, expect=expect,
        ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("verify-zones")
    config = allow_create(copy_example("slackbox", base / "config"))
    text = config.read_text()
    assert text.count("\ndomains:\n") == 1, "the example moved; update this test"
    config.write_text(text.replace("\ndomains:\n", SILENT_ZONE))
    root = base / "root"
    run_mailauth("apply", "-c", config, "--root", root, "--yes")
    served = {}
    for zone in ("slackbox.fr", "unixbox.fr"):
        served[zone] = base / f"zone.{zone}"
        shutil.copyfile(root / f"var/named/zone.{zone}", served[zone])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # never read: queries sent here get no answer
        port = silent.getsockname()[1]
        extra = (
            f'zone "unixbox.fr" {{ type primary; file "{served["unixbox.fr"]}"; '
            "allow-query { none; }; };\n"
            f'zone "silent.test" {{ type forward; forward only; '
            f"forwarders {{ 127.0.0.1 port {port}; }}; }};\n"
        )
        with RecursingNamed(
            [("slackbox.fr", served["slackbox.fr"])], workdir=base / "named", config=extra
        ) as named:
            yield Live(config, root, named)


def test_refused_and_silent_zones_are_reported_and_the_other_is_checked(live: Live) -> None:
    doc = json.loads(live.verify("--format", "json", expect=1))
    assert {z["zone"]: z["status"] for z in doc["zones"]} == {
        "slackbox.fr": "checked",
        "unixbox.fr": "refused",
        "silent.test": "timeout",
    }
    assert doc["complete"] is False and doc["in_sync"] is False
    assert doc["summary"]["unchecked_zones"] == 2
    domains = {d["domain"]: d for d in doc["domains"]}
    assert domains["slackbox.fr"]["status"] == "checked"
    assert domains["slackbox.fr"]["in_sync"] is True and domains["slackbox.fr"]["checked"] > 5
    assert domains["unixbox.fr"]["status"] == "refused"

    text = live.verify(expect=1)
    assert "unixbox.fr: not checked (refused): the name server refused" in text
    assert "silent.test: not checked (timeout): no answer for" in text
    assert "slackbox.fr: in sync" in text
    assert "Not checked: 2 zones (silent.test, unixbox.fr); 1 zone checked, in sync" in text


def test_zone_limits_the_check(live: Live) -> None:
    text = live.verify("--zone", "slackbox.fr", expect=0)
    assert "slackbox.fr: in sync" in text and "unixbox.fr" not in text
    assert "In sync: DNS publishes what mailauth.yaml says" in text


def test_a_single_zone_refused_is_an_error(live: Live) -> None:
    result = run_mailauth(
        "verify", "-c", live.config, "--root", live.root,
        "--nameserver", f"127.0.0.1:{live.named.port}", "--zone", "unixbox.fr", expect=1,
    )  # fmt: skip
    assert "refused" in result.stderr and "nothing was decided" in result.stderr

"""`mailauth verify` against a real named serving the zones `mailauth apply` wrote.

The example is applied twice: first with an extra DKIM selector ``old`` for slackbox.fr,
then without it (a key rotation: mailauth.lock keeps ``old``, the zone drops it). named
serves copies of the zone files; each test writes its own version of them (pristine, or
with one deliberate drift), bumps the serial, reloads named, and runs the real command
line: exit 0 in sync, 2 with the drift reported in text and JSON.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import NamedServer, allow_create, copy_example, run_mailauth

from mailauth.backends.zonefile import find_serial, replace_serial, txt_rdata
from mailauth.compiler.lockfile import Lock, read_lock

pytestmark = pytest.mark.e2e

ZONES = ("slackbox.fr", "unixbox.fr")
DOMAIN_LINE = "  - name: slackbox.fr\n    mx: [{host: mail.slackbox.fr, priority: 10}]\n"
ROTATION = (
    "    dkim:\n"
    "      selectors:\n"
    '        - {name: "01", algorithm: rsa, bits: 2048}\n'
    '        - {name: "old", algorithm: rsa, bits: 1024}\n'
)
_serials = itertools.count(2030010101)


@dataclass
class Live:
    config: Path
    root: Path
    served: dict[str, Path]
    pristine: dict[str, str]
    old_record: str
    lock: Lock
    named: NamedServer

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.named.port}"

    def serve(self, edit: Callable[[dict[str, str]], None] | None = None) -> None:
        """Serve the pristine zones, changed by ``edit``, under fresh serials."""
        texts = dict(self.pristine)
        if edit is not None:
            edit(texts)
        expect = {}
        for zone, text in texts.items():
            span = find_serial(text)
            assert span is not None
            serial = next(_serials)
            self.served[zone].write_text(replace_serial(text, span, serial))
            expect[zone] = serial
        self.named.reload(expect=expect)

    def verify(self, *args: str, expect: int) -> str:
        return run_mailauth(
            "verify", "-c", self.config, "--root", self.root, "--nameserver", self.nameserver,
            *args, expect=expect,
        ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("verify-named")
    config = allow_create(copy_example("slackbox", base / "config"))
    root = base / "root"
    text = config.read_text()
    assert text.count(DOMAIN_LINE) == 1, "the example's domains moved; update this test"
    config.write_text(text.replace(DOMAIN_LINE, DOMAIN_LINE + ROTATION))
    run_mailauth("apply", "-c", config, "--root", root, "--yes")
    first = (root / "var/named/zone.slackbox.fr").read_text()
    old_record = next(line for line in first.splitlines() if line.startswith("old._domainkey"))
    config.write_text(text)
    run_mailauth("apply", "-c", config, "--root", root, "--yes")
    pristine = {z: (root / f"var/named/zone.{z}").read_text() for z in ZONES}
    assert "old._domainkey" not in pristine["slackbox.fr"]
    lock = read_lock(config.parent / "mailauth.lock")
    assert ("slackbox.fr", "old") in lock, "the rotated-out selector stays in the lock"

    served_dir = base / "served"
    served_dir.mkdir()
    served = {}
    for zone in ZONES:
        served[zone] = served_dir / f"zone.{zone}"
        shutil.copyfile(root / f"var/named/zone.{zone}", served[zone])
    with NamedServer([(z, served[z]) for z in ZONES], workdir=base / "named") as named:
        yield Live(config, root, served, pristine, old_record, lock, named)


def findings(output: str) -> list[tuple[str, str, str]]:
    doc = json.loads(output)
    return [(d["domain"], f["kind"], f["name"]) for d in doc["domains"] for f in d["findings"]]


def test_in_sync_exits_0(live: Live) -> None:
    live.serve()
    out = live.verify(expect=0)
    assert "slackbox.fr: in sync" in out and "unixbox.fr: in sync" in out
    doc = json.loads(live.verify("--format", "json", expect=0))
    assert doc["in_sync"] is True
    assert all(d["checked"] > 5 for d in doc["domains"]), doc


def _missing(texts: dict[str, str]) -> None:
    line = re.search(r"^@\s+IN MX\s+10 mail\.slackbox\.fr\.\n", texts["unixbox.fr"], re.M)
    assert line is not None
    texts["unixbox.fr"] = texts["unixbox.fr"].replace(line.group(0), "")


def _dmarc(texts: dict[str, str]) -> None:
    assert '"v=DMARC1; p=none; sp=quarantine"' in texts["slackbox.fr"]
    texts["slackbox.fr"] = texts["slackbox.fr"].replace("p=none; sp=", "p=reject; sp=")


def _second_spf(texts: dict[str, str]) -> None:
    texts["unixbox.fr"] += '@ IN TXT "v=spf1 a include:_spf.example.com ~all"\n'


DRIFTS: dict[str, tuple[Callable[[dict[str, str]], None], tuple[str, str, str]]] = {
    "missing record": (_missing, ("unixbox.fr", "missing", "unixbox.fr.")),
    "different DMARC": (_dmarc, ("slackbox.fr", "different", "_dmarc.slackbox.fr.")),
    "second SPF": (_second_spf, ("unixbox.fr", "extra", "unixbox.fr.")),
}


@pytest.mark.parametrize("drift", list(DRIFTS))
def test_each_drift_is_reported_with_exit_2(live: Live, drift: str) -> None:
    edit, expected = DRIFTS[drift]
    live.serve(edit)
    assert findings(live.verify("--format", "json", expect=2)) == [expected]
    text = live.verify(expect=2)
    assert f"{expected[1]:<14} " in text and "Drift: 1 problem in 1 domain" in text


def test_stale_selector_still_published(live: Live) -> None:
    def stale(texts: dict[str, str]) -> None:
        texts["slackbox.fr"] += live.old_record + "\n"

    live.serve(stale)
    assert findings(live.verify("--format", "json", expect=2)) == [
        ("slackbox.fr", "stale-selector", "old._domainkey.slackbox.fr.")
    ]
    assert "in mailauth.lock but no longer in mailauth.yaml" in live.verify(expect=2)


def _swap_key(live: Live) -> Callable[[dict[str, str]], None]:
    """slackbox.fr's DKIM record carrying unixbox.fr's key (valid, but not the lock's)."""

    def edit(texts: dict[str, str]) -> None:
        block = re.search(r"^01\._domainkey\s.*?\)\n", texts["slackbox.fr"], re.M | re.S)
        assert block is not None
        other = live.lock[("unixbox.fr", "01")].public_key
        record = "01._domainkey IN TXT ( " + " ".join(txt_rdata(f"v=DKIM1; k=rsa; p={other}"))
        texts["slackbox.fr"] = texts["slackbox.fr"].replace(block.group(0), record + " )\n")

    return edit


def test_dkim_key_different_from_the_lock(live: Live) -> None:
    live.serve(_swap_key(live))
    assert findings(live.verify("--format", "json", expect=2)) == [
        ("slackbox.fr", "dkim-key", "01._domainkey.slackbox.fr.")
    ]
    text = live.verify(expect=2)
    assert live.lock[("slackbox.fr", "01")].fingerprint in text.replace("\n", "")


def test_every_drift_at_once_then_back_in_sync(live: Live) -> None:
    swap = _swap_key(live)

    def everything(texts: dict[str, str]) -> None:
        for edit, _ in DRIFTS.values():
            edit(texts)
        swap(texts)
        texts["slackbox.fr"] += live.old_record + "\n"

    live.serve(everything)
    found = findings(live.verify("--format", "json", expect=2))
    expected = [e for _, e in DRIFTS.values()] + [
        ("slackbox.fr", "dkim-key", "01._domainkey.slackbox.fr."),
        ("slackbox.fr", "stale-selector", "old._domainkey.slackbox.fr."),
    ]
    assert sorted(found) == sorted(expected)
    live.serve()
    live.verify(expect=0)

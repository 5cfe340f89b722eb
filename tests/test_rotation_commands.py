"""A full rotation of examples/slackbox with the four commands, each followed by plan and
apply, against a small DNS server that serves the applied zone files (promote's proof).

Time is moved by hand (the commands' clock), so the waits of the policy are real
refusals and real passages, without waiting.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.zone
import pytest
from test_verify import TinyDns
from typer.testing import CliRunner

from mailauth.compiler.cli import app
from mailauth.compiler.lockfile import read_lock
from mailauth.compiler.rotation import cli as rotation_cli

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(rotation_cli, "_now", clock)
    return clock


class Site:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.config = base / "mailauth.yaml"
        shutil.copy(REPO / "examples/slackbox/mailauth.yaml", self.config)
        self.root = base / "root"
        (self.root / "etc/postfix").mkdir(parents=True)
        (self.root / "etc/postfix/main.cf").write_text("")

    def run(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            app, [*args, "-c", str(self.config)], env={"NO_COLOR": "1"}, catch_exceptions=False
        )
        return result.exit_code, result.stdout, result.stderr

    def apply(self) -> str:
        code, out, err = self.run("apply", "--root", str(self.root), "--yes")
        assert code == 0, out + err
        code, out, err = self.run("plan", "--root", str(self.root))
        assert code == 0, out + err  # applied: nothing left to do
        return out

    def plan(self) -> str:
        code, out, err = self.run("plan", "--root", str(self.root))
        assert code == 2, out + err
        return out

    def zones(self) -> list[dns.zone.Zone]:
        return [
            dns.zone.from_text(
                (self.root / f"var/named/zone.{name}").read_text(), origin=name, relativize=False
            )
            for name in ("slackbox.fr", "unixbox.fr")
        ]

    def lock(self) -> dict[tuple[str, str], str | None]:
        return {k: e.state for k, e in read_lock(self.base / "mailauth.lock").items()}

    def signing(self) -> str:
        return (self.root / "etc/opendkim/SigningTable").read_text()

    def zone_text(self, name: str = "slackbox.fr") -> str:
        return (self.root / f"var/named/zone.{name}").read_text()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = Site(tmp_path)
    site.apply()
    return site


@pytest.fixture
def dns_of(site: Site) -> Iterator[list[TinyDns]]:
    servers: list[TinyDns] = []
    yield servers
    for server in servers:
        server.__exit__()


def serve(site: Site, servers: list[TinyDns]) -> str:
    """Serve the zones as applied now (what named serves after `rndc reload`)."""
    server = TinyDns(site.zones()).__enter__()
    servers.append(server)
    return f"127.0.0.1:{server.port}"


def test_full_rotation_of_slackbox(site: Site, clock: Clock, dns_of: list[TinyDns]) -> None:
    old_dns = serve(site, dns_of)  # named before the new key is applied
    config_before = site.config.read_bytes()

    # 1. rotate: a new selector per domain, published, not signing
    code, out, err = site.run("keys", "rotate")
    assert code == 0, err
    assert "202612._domainkey.slackbox.fr: new rsa key published" in out
    assert site.lock()[("slackbox.fr", "202612")] == "published"
    assert "202612._domainkey" in site.plan()
    site.apply()
    assert "202612._domainkey" in site.zone_text()
    assert "202612" not in site.signing()
    assert site.config.read_bytes() == config_before  # the commands write the lock only

    # 2. promote: refused while DNS does not serve the key, and before its TTL (86400s)
    code, out, err = site.run("keys", "promote", "--root", str(site.root), "--nameserver", old_dns)
    assert code == 1
    assert "does not serve the record yet" in err and "from before for 86400s" in err
    new_dns = serve(site, dns_of)  # rndc reload
    clock.pass_(hours=1)
    code, out, err = site.run("keys", "promote", "--root", str(site.root), "--nameserver", new_dns)
    assert code == 1 and "from before for 86400s" in err and "does not serve" not in err
    clock.pass_(days=1)
    code, out, err = site.run("keys", "promote", "--root", str(site.root), "--nameserver", new_dns)
    assert code == 0, err
    assert "202612._domainkey.slackbox.fr: active (signs)" in out
    assert "01._domainkey.slackbox.fr: retiring" in out
    site.apply()
    assert "*@slackbox.fr 202612._domainkey.slackbox.fr" in site.signing()
    assert "01._domainkey" not in site.signing()
    assert "01._domainkey" in site.zone_text()  # still published while mail is in transit

    # 3. retire: too early, then revoke (p= empty), then remove
    code, out, err = site.run("keys", "retire")
    assert code == 1 and "may still be in transit until" in err
    clock.pass_(days=7)
    code, out, err = site.run("keys", "retire")
    assert code == 0, err
    assert "01._domainkey.slackbox.fr: revoked" in out
    site.apply()
    assert re.search(r'^01\._domainkey\s+IN\s+TXT\s+"v=DKIM1; k=rsa; p="$', site.zone_text(), re.M)
    code, out, err = site.run("keys", "retire")
    assert code == 1 and "published revoked until" in err
    clock.pass_(days=30)
    code, out, err = site.run("keys", "retire")
    assert code == 0, err
    assert "01._domainkey.slackbox.fr: removed" in out
    plan = site.plan()
    assert "delete /etc/opendkim/keys/slackbox.fr/01.private" in plan, plan
    assert "PRIVATE KEY" not in plan  # neither the archive copy nor the deletion shows it
    assert "its private key moves to /etc/opendkim/keys/archive/2027-01-08/slackbox.fr" in plan
    original = (site.root / "etc/opendkim/keys/slackbox.fr/01.private").read_bytes()
    site.apply()
    assert "01._domainkey" not in site.zone_text()
    keys = site.root / "etc/opendkim/keys"
    assert not (keys / "slackbox.fr/01.private").exists()
    archived = keys / "archive/2027-01-08/slackbox.fr/01.private"
    assert archived.read_bytes() == original
    assert archived.stat().st_mode & 0o777 == 0o600
    for directory in (keys / "archive", keys / "archive/2027-01-08", archived.parent):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    backups = (
        list((site.root / "var/backups").rglob("01.private"))
        if (site.root / "var/backups").exists()
        else []
    )
    assert not backups  # the archive is the copy; no second one among the backups
    lock_keys = json.loads((site.base / "mailauth.lock").read_text())["keys"]
    assert sorted((k["domain"], k["selector"]) for k in lock_keys) == [
        ("slackbox.fr", "202612"),
        ("unixbox.fr", "202612"),
    ]
    code, out, err = site.run("lint", "--root", str(site.root))
    assert "DKIM009" not in out, out

    # 4. status: the new key is active, nothing due until `every` has passed
    code, out, err = site.run("keys", "status", "--format", "json")
    doc = json.loads(out)
    assert doc["version"] == 1
    slackbox = doc["domains"][0]
    assert [(k["selector"], k["state"]) for k in slackbox["keys"]] == [("202612", "active")]
    assert [d["action"] for d in slackbox["due"]] == ["rotate"]
    assert [r["selector"] for r in slackbox["removed"]] == ["01"]
    code, out, err = site.run("keys", "rotate", "--due")
    assert code == 0 and "No domain is due" in out
    clock.pass_(days=180)
    code, out, err = site.run("keys", "status")
    assert "rotate now (older than every: 180d)" in out
    code, out, err = site.run("keys", "rotate", "--due", "--domain", "unixbox.fr")
    assert code == 0 and "unixbox.fr" in out and "slackbox.fr" not in out


def test_promote_force_skips_the_checks_with_a_warning(
    site: Site, clock: Clock, dns_of: list[TinyDns]
) -> None:
    site.run("keys", "rotate", "--domain", "slackbox.fr")
    code, _out, err = site.run("keys", "promote", "--root", str(site.root), "--force")
    assert code == 1 and "does not exist yet" in err  # no key to sign with: never forced
    site.apply()
    silent = TinyDns([], silent=True).__enter__()  # never answers
    dns_of.append(silent)
    code, _out, err = site.run(
        "keys",
        "promote",
        "--root",
        str(site.root),
        "--force",
        "--timeout",
        "0.2",
        "--nameserver",
        f"127.0.0.1:{silent.port}",
    )
    assert code == 0, err
    assert "warning: --force:" in err
    assert site.lock()[("slackbox.fr", "202612")] == "active"
    assert site.lock()[("unixbox.fr", "01")] is None  # untouched domain: as before


def test_commands_refuse_unknown_domains_and_a_missing_lock(site: Site, tmp_path: Path) -> None:
    code, _out, err = site.run("keys", "rotate", "--domain", "nope.example")
    assert code == 1 and "no such domain" in err
    (site.base / "mailauth.lock").unlink()
    code, _out, err = site.run("keys", "status")
    assert code == 1 and "mailauth.lock does not exist" in err


def test_retire_purge_deletes_the_private_key(site: Site, clock: Clock) -> None:
    site.run("keys", "rotate", "--domain", "unixbox.fr")
    site.apply()
    code, _out, err = site.run(
        "keys", "promote", "--root", str(site.root), "--domain", "unixbox.fr", "--force"
    )
    assert code == 0, err
    site.apply()
    clock.pass_(days=7)
    assert site.run("keys", "retire")[0] == 0
    site.apply()
    clock.pass_(days=30)
    code, out, err = site.run("keys", "retire", "--purge")
    assert code == 0 and "private key deleted" in out, out + err
    plan = site.plan()
    assert "removed with --purge: its private key is deleted" in plan
    site.apply()
    keys = site.root / "etc/opendkim/keys"
    assert not (keys / "unixbox.fr/01.private").exists()
    assert not list(keys.rglob("archive"))
    assert not [p for p in site.root.rglob("01.private") if "unixbox" in str(p)]


@pytest.fixture
def dual(tmp_path: Path) -> Site:
    """tests/golden/dkimpy-dual: dkimpy-milter signing RSA and Ed25519, example.net in
    include mode (a fragment of a hand-kept zone)."""
    case = REPO / "tests/golden/dkimpy-dual"
    site = Site.__new__(Site)
    site.base = tmp_path
    site.config = tmp_path / "mailauth.yaml"
    shutil.copy(case / "mailauth.yaml", site.config)
    site.root = tmp_path / "root"
    shutil.copytree(case / "before", site.root)
    site.apply()
    return site


def test_dkimpy_dual_algorithms_rotate_together_or_apart(dual: Site, clock: Clock) -> None:
    tables = dual.root / "etc/dkimpy-milter"
    fragment = dual.root / "var/named/mailauth.example.net.inc"
    code, out, err = dual.run("keys", "rotate", "--algorithm", "ed25519", "--domain", "example.net")
    assert code == 0, err
    assert "202612._domainkey.example.net: new ed25519 key published" in out
    code, out, err = dual.run("keys", "rotate")  # the rest: every active key not waiting
    assert code == 1 and "ed25519 key 202612 is already published and waiting" in err
    code, out, err = dual.run("keys", "rotate", "--algorithm", "rsa")
    assert code == 0, err
    assert "202612-2._domainkey.example.net: new rsa key published" in out
    assert "202612._domainkey.example.org: new rsa key published" in out
    dual.apply()
    text = fragment.read_text()
    assert "202612._domainkey" in text and "202612-2._domainkey" in text  # include mode
    assert "202612" not in (tables / "KeyTableEd25519").read_text()

    clock.pass_(days=1)
    code, out, err = dual.run(
        "keys", "promote", "--root", str(dual.root), "--force", "--timeout", "0.2",
        "--nameserver", "127.0.0.1:9",
    )  # fmt: skip
    assert code == 0, err
    dual.apply()
    rsa = (tables / "KeyTable").read_text()
    ed = (tables / "KeyTableEd25519").read_text()
    assert "example.net:202612-2:" in rsa and "example.net:01:" not in rsa
    assert "example.org:202612:" in rsa and "example.org:01:" not in rsa
    assert "example.net:202612:" in ed and "example.net:ed01:" not in ed
    assert "example.org:ed01:" in ed  # not rotated: still signs

    clock.pass_(days=7)
    assert dual.run("keys", "retire")[0] == 0
    dual.apply()
    revoked = [line for line in fragment.read_text().splitlines() if line.endswith('p="')]
    assert len(revoked) == 2 and any("k=ed25519" in line for line in revoked), revoked

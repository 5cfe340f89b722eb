"""Rotation states reach every file: DNS targets (BIND, octodns zone files, the octodns
source) publish published/active/retiring keys and revoked ones with an empty p=; the
signer's tables list only the active key; removed keys leave DNS and the lock."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mailauth.compiler import driver
from mailauth.compiler.dkimkeys import new_key
from mailauth.compiler.lockfile import REMOVED, LockEntry, read_lock, render_lock
from mailauth.compiler.octodns_source import MailauthSource
from mailauth.compiler.plan import Plan

CONFIG = """\
version: 1
defaults:
  dkim:
    selectors:
      - {name: "01", algorithm: rsa, bits: 1024}
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
domains:
  - name: example.org
  - name: example.net
targets:
  bind: {directory: /var/named, zone_file: "zone.{zone}"}
  octodns: {directory: /etc/octodns/mailauth}
  opendkim:
    config: /etc/opendkim.conf
    directory: /etc/opendkim
    socket: inet:8891@127.0.0.1
keys:
  directory: /etc/opendkim/keys
  file: "{domain}/{selector}.private"
"""

SINCE = "2026-01-01T00:00:00Z"


@dataclasses.dataclass
class Setup:
    config: Path
    root: Path
    lock: dict[tuple[str, str], LockEntry]
    public: dict[str, str]

    def write(self, **states: str) -> None:
        lock = dict(self.lock)
        for selector, state in states.items():
            key = ("example.org", selector)
            if state == REMOVED:
                lock[key] = dataclasses.replace(lock[key], state=state, since=SINCE, public_key="")
            else:
                lock[key] = dataclasses.replace(lock[key], state=state, since=SINCE)
        (self.config.parent / "mailauth.lock").write_bytes(render_lock(lock))

    def plan(self) -> dict[str, str]:
        result: Plan = driver.plan(driver.open_job(self.config, self.root, None))
        return {c.path: (c.new or b"").decode() for c in result.changes}


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[bytes, str, str]]:
    out = {}
    for name in ("01", "202607", "net"):
        private, info = new_key("rsa", 1024)
        out[name] = (private, info.public_key_b64, info.fingerprint)
    return out


@pytest.fixture
def setup(tmp_path: Path, keys: dict[str, tuple[bytes, str, str]]) -> Setup:
    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG)
    root = tmp_path / "root"
    lock: dict[tuple[str, str], LockEntry] = {}
    for domain, selector, key in (
        ("example.org", "01", "01"),
        ("example.org", "202607", "202607"),
        ("example.net", "01", "net"),
    ):
        private, public, fingerprint = keys[key]
        path = root / f"etc/opendkim/keys/{domain}/{selector}.private"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(private)
        path.chmod(0o600)
        lock[(domain, selector)] = LockEntry(
            domain, selector, "rsa", 1024, "2026-01-01", fingerprint, public
        )
    # 202607 exists only in the lock (made by `keys rotate`): it needs a state.
    lock[("example.org", "202607")] = dataclasses.replace(
        lock[("example.org", "202607")], state="published", since=SINCE
    )
    public = {name: keys[name][1] for name in keys}
    return Setup(config, root, lock, public)


def _dkim_lines(text: str, selector: str) -> str:
    return "\n".join(line for line in text.splitlines() if f"{selector}._domainkey" in line)


def _octodns_value(text: str, selector: str) -> str:
    """The value block of ``selector._domainkey`` in an octodns zone file."""
    start = text.index(f"{selector}._domainkey")
    return text[start : start + 600].split("\n? ")[0]


def test_published_is_in_dns_but_does_not_sign(setup: Setup) -> None:
    setup.write(**{"01": "active", "202607": "published"})
    files = setup.plan()
    zone = files["/var/named/zone.example.org"]
    assert setup.public["202607"][-40:] in zone.replace('" "', "").replace("\n", "")
    assert "202607._domainkey" in zone
    signing = files["/etc/opendkim/SigningTable"]
    assert "01._domainkey.example.org" in signing and "202607" not in signing
    assert "202607" not in files["/etc/opendkim/KeyTable"]


@pytest.mark.parametrize("state", ["retiring", "published"])
def test_active_new_key_signs_and_the_old_one_stays_published(setup: Setup, state: str) -> None:
    setup.write(**{"01": state, "202607": "active"})
    files = setup.plan()
    signing = files["/etc/opendkim/SigningTable"]
    assert "202607._domainkey.example.org" in signing
    assert "01._domainkey.example.org" not in signing
    assert "01._domainkey.example.net" in signing  # the other domain is untouched
    zone = files["/var/named/zone.example.org"]
    assert "01._domainkey" in zone and "202607._domainkey" in zone


def test_revoked_publishes_an_empty_p_in_every_dns_target(setup: Setup) -> None:
    setup.write(**{"01": "revoked", "202607": "active"})
    files = setup.plan()
    zone = files["/var/named/zone.example.org"]
    assert _dkim_lines(zone, "01").endswith('"v=DKIM1; k=rsa; p="')
    assert setup.public["01"][-40:] not in zone
    octo = files["/etc/octodns/mailauth/example.org.yaml"]
    assert "value: v=DKIM1\\; k=rsa\\; p=\n" in _octodns_value(octo, "01") + "\n"
    assert setup.public["01"][-40:] not in octo
    assert setup.public["202607"][-40:] in octo.replace("\n", "").replace(" ", "")
    # the octodns source publishes from the lock alone, the same records
    source = MailauthSource("mailauth", str(setup.config), root=str(setup.root))
    revoked = [
        r.value
        for z in source.model().zones
        for r in z.records
        if r.name.startswith("01._domainkey") and z.name == "example.org"
    ]
    assert revoked == ["v=DKIM1; k=rsa; p="]
    assert "01._domainkey.example.org" not in files["/etc/opendkim/SigningTable"]
    assert "01._domainkey.example.org" not in files["/etc/opendkim/KeyTable"]


def test_removed_leaves_dns_and_the_lock(setup: Setup) -> None:
    setup.write(**{"01": REMOVED, "202607": "active"})
    files = setup.plan()
    zone = files["/var/named/zone.example.org"]
    assert "01._domainkey.example.org" not in zone and "01._domainkey\t" not in zone
    assert not any(line.startswith("01._domainkey") for line in zone.splitlines())
    assert "01._domainkey.example.org" not in files["/etc/opendkim/KeyTable"]
    lock = read_lock(setup.config.parent / "mailauth.lock")
    assert lock[("example.org", "01")].state == REMOVED
    assert lock[("example.org", "01")].public_key == ""


def test_state_change_shows_in_the_plan(setup: Setup) -> None:
    setup.write(**{"01": "active", "202607": "published"})
    job = driver.open_job(setup.config, setup.root, None)
    from mailauth.compiler.apply import write_plan  # noqa: F401  (the module apply uses)

    first = driver.plan(job)
    driver.apply(job, lambda _plan: True)
    assert not driver.plan(driver.open_job(setup.config, setup.root, None)).has_work
    setup.write(**{"01": "retiring", "202607": "active"})
    second = driver.plan(driver.open_job(setup.config, setup.root, None))
    changed = {c.path for c in second.pending}
    assert "/etc/opendkim/SigningTable" in changed
    assert first.has_work


def test_a_lock_without_states_plans_as_before(setup: Setup, tmp_path: Path) -> None:
    """Backwards compatible: the same lock without states gives the same files as a
    config whose selectors say it with `sign:`."""
    lock = {k: v for k, v in setup.lock.items() if k[1] != "202607"}
    (setup.config.parent / "mailauth.lock").write_bytes(render_lock(lock))
    files = setup.plan()
    assert "01._domainkey.example.org" in files["/etc/opendkim/SigningTable"]
    assert b"state" not in (setup.config.parent / "mailauth.lock").read_bytes()


def test_lint_is_silent_about_removed_keys(setup: Setup) -> None:
    """DKIM009 (a lock key no selector uses) does not fire on a finished rotation."""
    from typer.testing import CliRunner

    from mailauth.compiler.cli import app

    setup.write(**{"01": REMOVED, "202607": "active"})
    result = CliRunner().invoke(
        app, ["lint", "-c", str(setup.config), "--root", str(setup.root)], env={"NO_COLOR": "1"}
    )
    assert "DKIM009" not in result.stdout, result.stdout
    stale = dict(setup.lock)
    stale[("example.org", "old")] = dataclasses.replace(
        stale[("example.org", "01")], selector="old"
    )
    (setup.config.parent / "mailauth.lock").write_bytes(render_lock(stale))
    result = CliRunner().invoke(
        app, ["lint", "-c", str(setup.config), "--root", str(setup.root)], env={"NO_COLOR": "1"}
    )
    assert "DKIM009" in result.stdout


def test_key_age_is_a_lint_warning_but_not_a_plan_note(setup: Setup) -> None:
    """DKIM012 needs a clock: `mailauth lint` has one, plan and apply do not (their result
    depends on the files alone, so a reviewed plan stays the plan that is applied)."""
    from typer.testing import CliRunner

    from mailauth.compiler.cli import app

    lock = {k: dataclasses.replace(e, created="2020-01-01") for k, e in setup.lock.items()}
    lock = {k: e for k, e in lock.items() if k[1] != "202607"}
    (setup.config.parent / "mailauth.lock").write_bytes(render_lock(lock))
    result = CliRunner().invoke(
        app, ["lint", "-c", str(setup.config), "--root", str(setup.root)], env={"NO_COLOR": "1"}
    )
    assert "DKIM012" in result.stdout and "older than rotation.every (180d)" in result.stdout
    plan = driver.plan(driver.open_job(setup.config, setup.root, None))
    assert not any("DKIM012" in note for note in plan.notes)


def test_reread_starts_from_the_written_config(setup: Setup) -> None:
    """apply reads the files again under its lock: the lock's states are applied to
    mailauth.yaml as written, not to the config they were already applied to (a selector
    made by rotation and since dropped from the lock must not stay)."""
    setup.write(**{"01": "active", "202607": "published"})
    first = driver.open_job(setup.config, setup.root, None).inputs
    assert first.written is not None and first.written.config.domains[0].dkim is None
    lock = {k: v for k, v in setup.lock.items() if k[1] != "202607"}
    (setup.config.parent / "mailauth.lock").write_bytes(render_lock(lock))
    again = first.reread()
    selectors = [s.name for s in again.loaded.config.defaults.dkim.selectors]
    assert again.loaded.config.domains[0].dkim is None and selectors == ["01"]


def test_promote_waits_for_the_longer_of_the_ttl_and_negative_caching(setup: Setup) -> None:
    from mailauth.compiler.rotation.live import record_ttl
    from mailauth.compiler.verify import expected_state

    setup.write(**{"01": "active", "202607": "published"})
    model, _ = expected_state(driver.open_job(setup.config, setup.root, None))
    # zone TTL 3600, SOA minimum 10800: negative caching min(10800, 3600) = the TTL
    assert record_ttl(model, "202607._domainkey.example.org") == 3600
    # a record TTL of 60s: a "no such record" asked before may still live 3600s
    text = setup.config.read_text().replace(
        "domains:\n  - name: example.org\n", "domains:\n  - name: example.org\n    ttl: 60\n"
    )
    setup.config.write_text(text)
    model, _ = expected_state(driver.open_job(setup.config, setup.root, None))
    record = model.zone("example.org").find("202607._domainkey", "TXT")
    assert [r.ttl for r in record] == [60]
    assert record_ttl(model, "202607._domainkey.example.org") == 3600

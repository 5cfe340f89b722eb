"""plan and apply on the slackbox example: exit codes, diffs, backups, modes, formats.

Where a date matters (the SOA serial) the driver is called with a fixed day; the command
line is used for everything a user sees (exit status, text, refusal without a terminal).
"""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailauth.compiler import driver
from mailauth.compiler.cli import app
from mailauth.compiler.plan import FileChange, Plan

DAY = date(2026, 1, 18)
FIRST = datetime(2026, 1, 18, 9, 0, 0, tzinfo=UTC)
SECOND = datetime(2026, 1, 18, 9, 30, 0, tzinfo=UTC)
ZONES = ("/var/named/zone.slackbox.fr", "/var/named/zone.unixbox.fr")
BACKUPS = "var/backups/mailauth"


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [str(a) for a in args], env={"NO_COLOR": "1"}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def snapshot(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        info = path.stat()
        if path.is_dir():
            found[rel] = f"dir {stat.S_IMODE(info.st_mode):o}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = f"{digest} {stat.S_IMODE(info.st_mode):o} {info.st_mtime_ns}"
    return found


def without_lock(tree: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tree.items() if not k.endswith("apply.lock")}


def apply_at(config: Path, root: Path, moment: datetime) -> Plan:
    job = driver.open_job(config, root, None)
    result = driver.apply(job, lambda _plan: True, now=moment)
    assert result is not None
    return result


def plan_at(config: Path, root: Path, targets: list[str] | None = None) -> Plan:
    return driver.plan(driver.open_job(config, root, targets), today=DAY)


def changed_lines(change: FileChange) -> list[str]:
    return [
        line
        for line in change.diff().splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def set_policy(config: Path, policy: str) -> None:
    text = config.read_text()
    old = "  dmarc:\n    p: none\n"
    assert text.count(old) == 1, "the example's DMARC defaults moved; update this test"
    config.write_text(text.replace(old, f"  dmarc:\n    p: {policy}\n"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def applied(slackbox_config: Path, root: Path) -> Path:
    """The example applied once, on the fixed day; returns the config."""
    apply_at(slackbox_config, root, FIRST)
    return slackbox_config


# --- plan ------------------------------------------------------------------------------------


def test_first_plan_lists_creates_and_exits_2(slackbox_config: Path, root: Path) -> None:
    code, out, err = cli("plan", "-c", slackbox_config, "--root", root)
    assert code == 2, err
    for path in (*ZONES, "/etc/named/mailauth.zones.conf"):
        assert f"==> create {path}\n" in out
    assert "to create, 0 to update, 0 to delete, 0 unchanged." in out
    assert "rndc reload slackbox.fr" in out
    assert not root.exists(), "plan created the root"


def test_plan_never_writes(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    before = snapshot(root)
    for fmt in ("text", "json", "markdown"):
        code, _, err = cli("plan", "-c", applied, "--root", root, "--format", fmt)
        assert code == 2, err
    assert snapshot(root) == before


def test_first_apply_writes_every_file_it_planned(slackbox_config: Path, root: Path) -> None:
    written = apply_at(slackbox_config, root, FIRST)
    assert {c.op for c in written.pending} == {"create"}
    for change in written.pending:
        target = root / change.path.lstrip("/")
        if not change.rooted:
            target = Path(change.path)
        assert target.is_file(), change.path
        if not change.secret:
            assert change.new is not None
            assert target.read_bytes() == change.new, change.path
    zone = (root / ZONES[0].lstrip("/")).read_text()
    assert "2026011801 ; serial" in zone
    assert '"v=DMARC1; p=none; sp=quarantine"' in zone
    assert "01._domainkey" in zone, "the key made by apply is published at once"


def test_apply_writes_exactly_what_plan_showed(applied: Path, root: Path) -> None:
    """Once keys exist, plan and apply agree byte for byte."""
    set_policy(applied, "reject")
    planned = plan_at(applied, root)
    written = apply_at(applied, root, SECOND)
    assert [(c.path, c.op, c.new) for c in planned.pending] == [
        (c.path, c.op, c.new) for c in written.pending
    ]
    for change in written.pending:
        assert change.new is not None
        assert (root / change.path.lstrip("/")).read_bytes() == change.new


def test_second_plan_says_no_changes(applied: Path, root: Path) -> None:
    code, out, err = cli("plan", "-c", applied, "--root", root)
    assert code == 0, out + err
    assert "No changes" in out
    assert "0 to create, 0 to update, 0 to delete" in out
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes")
    assert code == 0, err
    assert "No changes" in out


def test_dmarc_edit_changes_only_the_dmarc_and_serial_lines(applied: Path, root: Path) -> None:
    old_text = {z: (root / z.lstrip("/")).read_text() for z in ZONES}
    set_policy(applied, "reject")

    code, out, err = cli("plan", "-c", applied, "--root", root)
    assert code == 2, err
    assert "0 to create, 2 to update, 0 to delete" in out

    result = plan_at(applied, root)
    assert sorted(c.path for c in result.pending) == sorted(ZONES)
    assert all(c.op == "update" for c in result.pending)
    for change in result.pending:
        lines = old_text[change.path].splitlines()
        serial = next(line for line in lines if line.strip().endswith("; serial"))
        dmarc = next(line for line in lines if line.startswith("_dmarc"))
        assert serial == "        2026011801 ; serial"
        assert dmarc.endswith('"v=DMARC1; p=none; sp=quarantine"')
        assert changed_lines(change) == [
            f"-{serial}",
            "+        2026011802 ; serial",
            f"-{dmarc}",
            "+" + dmarc.replace("p=none", "p=reject"),
        ]
        assert f"-{dmarc}" in out and "+" + dmarc.replace("p=none", "p=reject") in out


def test_reverting_the_edit_is_again_a_change_and_then_settles(applied: Path, root: Path) -> None:
    set_policy(applied, "quarantine")
    apply_at(applied, root, SECOND)
    text = applied.read_text()
    assert text.count("  dmarc:\n    p: quarantine\n") == 1
    applied.write_text(text.replace("  dmarc:\n    p: quarantine\n", "  dmarc:\n    p: none\n"))
    result = plan_at(applied, root)
    assert sorted(c.path for c in result.pending) == sorted(ZONES)
    apply_at(applied, root, SECOND.replace(minute=45))
    assert not plan_at(applied, root).pending
    zone = (root / ZONES[0].lstrip("/")).read_text()
    assert "2026011803 ; serial" in zone, "each change moves the serial forward, never back"


# --- apply -----------------------------------------------------------------------------------


def test_apply_keeps_a_backup_of_each_replaced_file(applied: Path, root: Path) -> None:
    old = {z: (root / z.lstrip("/")).read_bytes() for z in ZONES}
    set_policy(applied, "reject")
    apply_at(applied, root, SECOND)
    stamp = SECOND.strftime("%Y%m%dT%H%M%S.%fZ")
    base = root / BACKUPS / stamp
    for zone in ZONES:
        saved = base / zone.lstrip("/")
        assert saved.read_bytes() == old[zone]
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert (root / zone.lstrip("/")).read_bytes() != old[zone]
    backed_up = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())
    assert backed_up == sorted(z.lstrip("/") for z in ZONES), "only replaced files are saved"
    assert stat.S_IMODE((root / BACKUPS).stat().st_mode) & 0o077 == 0


def test_first_apply_makes_no_backups(applied: Path, root: Path) -> None:
    assert not (root / BACKUPS).exists()


def test_apply_without_yes_and_without_terminal_refuses(slackbox_config: Path, root: Path) -> None:
    code, out, err = cli("apply", "-c", slackbox_config, "--root", root)
    assert code == 1
    assert "no terminal" in err and "--yes" in err
    assert "Applied" not in out
    leftovers = [k for k, v in snapshot(root).items() if not v.startswith("dir")]
    assert [k for k in leftovers if not k.endswith("apply.lock")] == [], leftovers
    assert not (slackbox_config.parent / "mailauth.lock").exists()


def test_apply_without_yes_leaves_an_applied_tree_alone(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    before = without_lock(snapshot(root))
    code, _, err = cli("apply", "-c", applied, "--root", root)
    assert code == 1
    assert "no terminal" in err
    assert without_lock(snapshot(root)) == before


def test_file_modes(applied: Path, root: Path) -> None:
    def mode(rel: str) -> int:
        return stat.S_IMODE((root / rel.lstrip("/")).stat().st_mode)

    for zone in ZONES:
        assert mode(zone) == 0o644
    assert mode("/etc/named/mailauth.zones.conf") == 0o644
    keys = sorted((root / "etc/opendkim/keys").rglob("*.private"))
    assert len(keys) == 2
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        for parent in (key.parent, key.parent.parent):
            assert stat.S_IMODE(parent.stat().st_mode) & 0o027 == 0, parent
    leftovers = [p for p in root.rglob("*") if ".mailauth-tmp-" in p.name]
    assert leftovers == [], "temp files left behind"


def test_shared_directories_stay_traversable(applied: Path, root: Path) -> None:
    for rel in ("var", "var/named", "etc", "etc/named"):
        assert stat.S_IMODE((root / rel).stat().st_mode) & 0o005 == 0o005, rel


def test_private_keys_never_reach_the_output(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    keys = [p.read_bytes() for p in (root / "etc/opendkim/keys").rglob("*.private")]
    outputs = []
    for fmt in ("text", "json", "markdown"):
        outputs.append(cli("plan", "-c", applied, "--root", root, "--format", fmt)[1])
    code, out, err = cli("apply", "-c", applied, "--root", root, "--yes")
    assert code == 0, err
    outputs += [out, err]
    for text in outputs:
        assert "PRIVATE KEY" not in text
        for key in keys:
            body = b"".join(key.splitlines()[1:-1]).decode()
            assert body[:40] not in text


# --- targets ---------------------------------------------------------------------------------


def test_target_bind_plans_only_bind_files(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    code, out, err = cli("plan", "-c", applied, "--root", root, "--target", "bind")
    assert code == 2, err
    result = plan_at(applied, root, ["bind"])
    assert sorted(c.path for c in result.pending) == sorted(ZONES)
    assert not any("opendkim" in c.path or "postfix" in c.path for c in result.changes)
    code, out, err = cli("apply", "-c", applied, "--root", root, "--target", "bind", "--yes")
    assert code == 0, err
    code, out, err = cli("plan", "-c", applied, "--root", root, "--target", "bind")
    assert code == 0, out + err


def test_unknown_target_is_an_error(slackbox_config: Path, root: Path) -> None:
    code, out, err = cli("plan", "-c", slackbox_config, "--root", root, "--target", "nope")
    assert code == 1
    assert "nope" in err and "unknown target" in err and "bind" in err
    assert out == ""
    code, _, err = cli("apply", "-c", slackbox_config, "--root", root, "--target", "nope", "--yes")
    assert code == 1
    assert not root.exists()


# --- deletes ---------------------------------------------------------------------------------


def test_removing_a_zone_deletes_its_file(applied: Path, root: Path) -> None:
    text = applied.read_text()
    zone_block = text[text.index("  - name: unixbox.fr\n    mode: zone") : text.index("\ndomains:")]
    text = text.replace(zone_block + "\n", "")
    text = text.replace(
        "  - name: unixbox.fr\n    mx: [{host: mail.slackbox.fr, priority: 10}]\n", ""
    )
    assert "unixbox" not in text.split("zones:")[1], "could not cut unixbox.fr out of the example"
    applied.write_text(text)

    code, out, err = cli("plan", "-c", applied, "--root", root)
    assert code == 2, err
    assert "==> delete /var/named/zone.unixbox.fr\n" in out
    result = plan_at(applied, root)
    ops = {c.path: c.op for c in result.pending}
    assert ops["/var/named/zone.unixbox.fr"] == "delete"
    assert ops["/etc/named/mailauth.zones.conf"] == "update"
    assert "/var/named/zone.slackbox.fr" not in ops, "the other zone must not change"
    old = (root / "var/named/zone.unixbox.fr").read_bytes()

    apply_at(applied, root, SECOND)
    assert not (root / "var/named/zone.unixbox.fr").exists()
    stamp = SECOND.strftime("%Y%m%dT%H%M%S.%fZ")
    assert (root / BACKUPS / stamp / "var/named/zone.unixbox.fr").read_bytes() == old
    # a private key is never deleted by a config edit
    assert (root / "etc/opendkim/keys/unixbox.fr/01.private").exists()
    assert not plan_at(applied, root).pending


# --- formats ---------------------------------------------------------------------------------


def test_json_format(slackbox_config: Path, root: Path) -> None:
    code, out, err = cli("plan", "-c", slackbox_config, "--root", root, "--format", "json")
    assert code == 2, err
    doc = json.loads(out)
    assert {"format_version", "root", "summary", "changes", "reload", "notes"} <= set(doc)
    assert doc["root"] == str(root.resolve())
    assert set(doc["summary"]) == {"create", "update", "delete", "unchanged"}
    assert doc["summary"]["create"] == len(doc["changes"]) > 0
    by_path = {c["path"]: c for c in doc["changes"]}
    for zone in ZONES:
        entry = by_path[zone]
        assert entry["operation"] == "create" and entry["secret"] is False
        assert entry["diff"].startswith("--- /dev/null\n+++ b" + zone)
    secrets = [c for c in doc["changes"] if c["secret"]]
    assert secrets, "the example's private keys are in the plan"
    for entry in secrets:
        assert "diff" not in entry
        assert entry["old_fingerprint"] == "(absent)"
    assert "rndc reload slackbox.fr" in doc["reload"]


def test_markdown_format(applied: Path, root: Path) -> None:
    set_policy(applied, "reject")
    code, out, err = cli("plan", "-c", applied, "--root", root, "--format", "markdown")
    assert code == 2, err
    assert out.startswith("### mailauth plan\n")
    assert "| operation | file |" in out
    for zone in ZONES:
        assert f"| update | `{zone}` |" in out
        assert f"<summary>update <code>{zone}</code></summary>" in out
    assert out.count("```diff") == 2
    assert "+_dmarc" in out


def test_markdown_when_nothing_changes(applied: Path, root: Path) -> None:
    code, out, _ = cli("plan", "-c", applied, "--root", root, "--format", "markdown")
    assert code == 0
    assert "0 to create, 0 to update, 0 to delete" in out
    assert "```diff" not in out

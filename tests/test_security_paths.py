"""Issue 11, paths and secrets: nothing escapes --root, nothing mailauth did not write is
shown, keys come first and leave no temp file, replaced files keep mode and owner, and
every refusal is a message with a position, never a traceback.

Each test sets up the hostile disk state or input the audit used and checks the outcome
with real files in temporary directories.
"""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import mailauth_argv, mailauth_env, require_binary, run_mailauth, safe_directory
from typer.testing import CliRunner

from mailauth.compiler import apply as apply_module
from mailauth.compiler import dkimkeys, driver
from mailauth.compiler.apply import write_order
from mailauth.compiler.cli import app
from mailauth.compiler.dkimkeys import generate_private_key
from mailauth.compiler.fsio import Batch, UnsafePath, check_path
from mailauth.compiler.plan import FileChange, Plan, looks_private
from mailauth.compiler.report import as_json, as_markdown, as_text
from mailauth.schema.errors import ConfigError

NOW = datetime(2026, 1, 18, 9, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 19, 9, 0, 0, tzinfo=UTC)
ZONE = "var/named/zone.example.test"

BIND_ONLY = """\
version: 1
zones:
  - name: example.test
    mode: zone
    soa: {mname: ns.example.test, rname: hostmaster@example.test}
    ns: [ns.example.test]
    records:
      - {name: "@", type: A, value: 192.0.2.1}
      - {name: mail, type: A, value: 192.0.2.1}
      - {name: ns, type: A, value: 192.0.2.1}
domains:
  - name: example.test
    mx: [{host: mail.example.test, priority: 10}]
    dkim: {selectors: []}
targets:
  bind:
    directory: /var/named
    zone_file: "zone.{zone}"
"""


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [str(a) for a in args], env={"NO_COLOR": "1"}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def write_config(directory: Path, text: str = BIND_ONLY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mailauth.yaml"
    config.write_text(text)
    return config


def apply_now(config: Path, root: Path, moment: datetime = NOW) -> Plan:
    result = driver.apply(driver.open_job(config, root, None), lambda _p: True, now=moment)
    assert result is not None
    return result


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# --- 1. nothing escapes the root ----------------------------------------------------------


@pytest.mark.parametrize("linked", ["var/named", "var/lib/mailauth", "var", "etc"])
def test_a_directory_symlink_under_the_root_is_refused(tmp_path: Path, linked: str) -> None:
    config = write_config(tmp_path / "cfg")
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    (root / linked).symlink_to(elsewhere, target_is_directory=True)
    code, out, err = cli("plan", "-c", config, "--root", root)
    assert code == 1, out + err
    assert "is a symlink" in err
    code, out, err = cli("apply", "-c", config, "--root", root, "--yes")
    assert code == 1, out + err
    assert tree(elsewhere) == [], "apply wrote through the symlink"


def test_a_symlinked_backup_directory_is_refused_before_anything_is_replaced(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "cfg")
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    elsewhere.mkdir()
    apply_now(config, root)
    (root / "var/backups").mkdir(parents=True)
    (root / "var/backups/mailauth").symlink_to(elsewhere, target_is_directory=True)
    before = (root / ZONE).read_bytes()
    config.write_text(BIND_ONLY.replace("192.0.2.1}", "192.0.2.7}", 1))
    # Plan refuses it already (naming state.backups), so apply never starts writing.
    with pytest.raises(ConfigError, match=r"state\.backups: .* is a symlink"):
        apply_now(config, root, LATER)
    assert tree(elsewhere) == []
    assert (root / ZONE).read_bytes() == before


def test_etc_linked_to_the_host_never_shows_the_hosts_main_cf(
    slackbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    fake_etc = tmp_path / "host-etc"
    (fake_etc / "postfix").mkdir(parents=True)
    (fake_etc / "postfix/main.cf").write_text("relayhost = secret-relay.example\n")
    root.mkdir()
    (root / "etc").symlink_to(fake_etc, target_is_directory=True)
    for fmt in ("text", "json", "markdown"):
        code, out, err = cli("plan", "-c", slackbox_config, "--root", root, "--format", fmt)
        assert code == 1, out + err
        assert "secret-relay" not in out + err


@pytest.mark.parametrize("kind", ["fifo", "device", "socket", "symlink"])
def test_a_special_file_at_a_zone_path_is_refused_without_reading_it(
    tmp_path: Path, kind: str
) -> None:
    config = write_config(tmp_path / "cfg")
    root = tmp_path / "root"
    apply_now(config, root)
    zone = root / ZONE
    zone.unlink()
    if kind == "fifo":
        os.mkfifo(zone)
    elif kind == "device":
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        os.mknod(zone, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    elif kind == "socket":
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(zone))
        sock.close()
    else:
        zone.symlink_to("/dev/zero")
    # A child process with a timeout: today's bug was a hang (FIFO) or running out of memory.
    result = run_mailauth("plan", "-c", config, "--root", root, expect=1, timeout=60)
    assert "Traceback" not in result.stderr
    assert "zone.example.test" in result.stderr
    assert "symlink" in result.stderr or "not a regular file" in result.stderr


def test_an_oversized_file_is_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailauth.compiler import fsio

    config = write_config(tmp_path / "cfg")
    root = tmp_path / "root"
    apply_now(config, root)
    monkeypatch.setattr(fsio, "READ_LIMIT", 100)
    with pytest.raises(ConfigError, match="larger than"):
        driver.plan(driver.open_job(config, root, None))


def test_root_slash_follows_only_links_root_made_in_root_only_directories(
    tmp_path: Path,
) -> None:
    """``--root /``: the host's own /var/run -> /run style links are followed; a link in
    a directory others can write (here under /tmp, 1777) is not. Below any other root
    no link is followed at all (the tests above)."""
    system_link = next(
        (
            Path(p)
            for p in ("/var/run", "/var/lock", "/bin", "/lib", "/sbin")
            if Path(p).is_symlink() and Path(p).is_dir()
        ),
        None,
    )
    if system_link is not None and os.lstat(system_link).st_uid == 0:
        check_path(Path("/"), system_link / "mailauth-test-absent")
    link = Path("/tmp") / f"mailauth-link-{os.getpid()}"
    link.symlink_to(tmp_path, target_is_directory=True)
    try:
        with pytest.raises(UnsafePath, match="is a symlink"):
            check_path(Path("/"), link / "file")
    finally:
        link.unlink()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    with pytest.raises(UnsafePath, match="is a symlink"):
        check_path(tmp_path, tmp_path / "link" / "file")


def test_root_slash_refuses_a_root_owned_link_in_a_shared_directory(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to own the link")
    with safe_directory("links-") as base:
        (base / "real").mkdir()
        (base / "link").symlink_to(base / "real", target_is_directory=True)
        check_path(Path("/"), base / "link" / "file")  # root-owned, in a 0755 root dir
        os.chmod(base, 0o777)
        try:
            with pytest.raises(UnsafePath):
                check_path(Path("/"), base / "link" / "file")
        finally:
            os.chmod(base, 0o755)


# --- 2. lock_file and spf_cache stay beside the config ---------------------------------------


def test_a_lock_file_reached_through_a_symlink_is_refused(
    slackbox_config: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    text = slackbox_config.read_text() + "lock_file: state/mailauth.lock\n"
    slackbox_config.write_text(text)
    (slackbox_config.parent / "state").symlink_to(outside, target_is_directory=True)
    code, out, err = cli("plan", "-c", slackbox_config, "--root", tmp_path / "root")
    assert code == 1, out + err
    assert "lock_file" in err and "symlink" in err
    assert "mailauth.yaml:" in err


def test_a_lock_file_that_is_itself_a_symlink_is_refused(
    slackbox_config: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.lock"
    target.write_text("{}")
    (slackbox_config.parent / "mailauth.lock").symlink_to(target)
    code, out, err = cli("plan", "-c", slackbox_config, "--root", tmp_path / "root")
    assert code == 1, out + err
    assert "symlink" in err


def test_an_spf_cache_symlink_is_refused(slackbox_config: Path, tmp_path: Path) -> None:
    from mailauth.compiler.spf.cache import cache_path
    from mailauth.schema.validate import load_config

    (tmp_path / "real.json").write_text("{}")
    loaded = load_config(slackbox_config)
    (slackbox_config.parent / loaded.config.spf_cache).symlink_to(tmp_path / "real.json")
    with pytest.raises(ConfigError, match="symlink"):
        cache_path(loaded)


# --- 3. never show what mailauth did not write -----------------------------------------------


def _opendmarc_over_a_key(config: Path, key: str) -> None:
    text = config.read_text()
    text = text.replace("  postfix:\n", f"  opendmarc:\n    config: {key}\n  postfix:\n", 1)
    config.write_text(text)


def test_a_target_path_naming_a_private_key_is_refused_and_never_printed(
    slackbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    key_path = "/etc/dkimpy-milter/keys/unixbox.fr/01.key"
    key = root / key_path.lstrip("/")
    key.parent.mkdir(parents=True)
    secret = generate_private_key("rsa", 1024)
    key.write_bytes(secret)
    os.chmod(key, 0o600)
    _opendmarc_over_a_key(slackbox_config, key_path)
    body = secret.decode().splitlines()[1]
    for fmt in ("text", "json", "markdown"):
        code, out, err = cli("plan", "-c", slackbox_config, "--root", root, "--format", fmt)
        assert code == 1, out + err
        assert f"{key_path} exists and was not written by mailauth" in err
        assert body not in out + err
        assert "mailauth.yaml:" in err  # the target's position
    code, out, err = cli("apply", "-c", slackbox_config, "--root", root, "--yes")
    assert code == 1
    assert body not in out + err
    assert key.read_bytes() == secret
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_an_unknown_existing_file_is_refused_but_a_written_one_is_shown(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    root = tmp_path / "root"
    (root / "var/named").mkdir(parents=True)
    (root / ZONE).write_text("hand-written content\n")
    code, out, err = cli("plan", "-c", config, "--root", root)
    assert code == 1
    assert "zone.example.test exists and was not written by mailauth" in err
    assert "hand-written" not in out + err
    (root / ZONE).unlink()
    apply_now(config, root)
    config.write_text(BIND_ONLY.replace("192.0.2.1}", "192.0.2.7}", 1))
    code, out, err = cli("plan", "-c", config, "--root", root)
    assert code == 2, err
    assert "-@" + " " * 31 + "IN A     192.0.2.1" in out  # mailauth wrote it: the diff is shown


def test_the_distributions_opendkim_conf_is_taken_over_on_a_first_run(
    slackbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/opendkim.conf").write_text("# Debian's opendkim.conf\nSyslog yes\n")
    result = driver.plan(driver.open_job(slackbox_config, root, None))
    (conf,) = [c for c in result.changes if c.path == "/etc/opendkim.conf"]
    assert conf.op == "update" and conf.foreign
    # Taken over, but what mailauth did not write is never shown: only its fingerprint.
    assert "Syslog yes" not in conf.diff()
    assert conf.fingerprint(conf.old) in conf.diff()
    assert "+InternalHosts" in conf.diff()


def test_key_looking_content_is_never_printed_whatever_the_path(tmp_path: Path) -> None:
    pem = generate_private_key("rsa", 1024)
    seed = generate_private_key("ed25519", 256)
    openssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END"
    for data in (pem, seed, openssh):
        assert looks_private(data)
        change = FileChange(path="/etc/x.conf", op="update", old=data, new=b"a = b\n")
        plan = Plan(root=tmp_path, changes=[change])
        shown = as_text(plan) + as_json(plan) + as_markdown(plan)
        assert data.decode().splitlines()[0] not in shown
        assert "sha256:" in change.diff()
        assert json.loads(as_json(plan))["changes"][0]["secret"] is True
    assert not looks_private(b"v=spf1 mx ~all\n")
    assert not looks_private(b"Syslog yes\nUMask 007\n")


# --- 4. one path, one claimant ---------------------------------------------------------------


def test_a_key_path_equal_to_a_table_path_names_both_claimants(
    slackbox_config: Path, tmp_path: Path
) -> None:
    text = slackbox_config.read_text().replace(
        "named_conf: /etc/named/mailauth.zones.conf",
        "named_conf: /etc/opendkim/keys/slackbox.fr/01.private",
    )
    slackbox_config.write_text(text)
    for command in ("plan", "validate"):
        args = [command, "-c", slackbox_config]
        if command == "plan":
            args += ["--root", str(tmp_path / "root")]
        code, out, err = cli(*args)
        assert code == 1, (command, out, err)
        assert "/etc/opendkim/keys/slackbox.fr/01.private" in err
        assert "targets.bind" in err and "key store" in err
        assert "mailauth.yaml:" in err
    assert not (tmp_path / "root").exists()


def test_a_target_file_inside_the_backups_is_refused(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg", BIND_ONLY.replace("/var/named", "/var/backups/mailauth/named")
    )
    code, out, err = cli("plan", "-c", config, "--root", tmp_path / "root")
    assert code == 1, out + err
    assert "state.backups" in err


# --- 5. keys first ---------------------------------------------------------------------------


def test_keys_are_written_before_the_records_that_publish_them() -> None:
    zone = FileChange(path="/var/named/zone.a", op="create", old=None, new=b"z")
    lock = FileChange(path="/cfg/mailauth.lock", op="update", old=b"", new=b"l", rooted=False)
    key = FileChange(path="/k/a.private", op="create", old=None, new=b"k", create_only=True)
    serial = FileChange(path="/var/named/hand", op="update", old=b"", new=b"s", after=("x",))
    manifest = FileChange(path="/var/lib/mailauth/manifest.json", op="create", old=None, new=b"")
    order = write_order([zone, lock, serial, key, manifest])
    assert order[0] is key
    assert order.index(key) < order.index(zone) < order.index(lock)


def test_a_real_apply_writes_the_key_before_the_zone(
    slackbox_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_atomic, real_key = apply_module.write_atomic, apply_module.write_private_key

    def atomic(path: Path, *args: object, **kw: object) -> None:
        seen.append(str(path))
        real_atomic(path, *args, **kw)  # type: ignore[arg-type]

    def key(path: Path, *args: object, **kw: object) -> None:
        seen.append(str(path))
        real_key(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(apply_module, "write_atomic", atomic)
    monkeypatch.setattr(apply_module, "write_private_key", key)
    with safe_directory("order-") as root:
        apply_now(slackbox_config, root)
    keys = [i for i, p in enumerate(seen) if p.endswith(".private")]
    zones = [i for i, p in enumerate(seen) if "/var/named/zone." in p]
    lock = [i for i, p in enumerate(seen) if p.endswith("mailauth.lock")]
    assert keys and zones and lock
    assert max(keys) < min(zones) and max(keys) < min(lock)


# --- 6. key temp files never stay --------------------------------------------------------------


def test_an_interrupted_key_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(tmp: Path, path: Path) -> None:
        assert tmp.exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(dkimkeys, "link_into_place", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dkimkeys.write_private_key(tmp_path / "k" / "a.private", b"secret")
    assert tree(tmp_path / "k") == []


def test_a_failed_batch_removes_its_staged_key_temp_files(tmp_path: Path) -> None:
    batch = Batch()
    temp = tmp_path / ".a.private.0123456789abcdef.tmp"
    batch.stage(tmp_path / "a.private", b"key", 0o600, create_only=True, temp=temp)
    batch.stage(tmp_path / "b.private", b"key", 0o600, create_only=True)

    def fail(tmp: Path, path: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch.commit(fail)
    assert tree(tmp_path) == []


def test_key_temp_files_left_by_a_kill_are_removed_by_the_next_apply(
    slackbox_config: Path,
) -> None:
    with safe_directory("sweep-") as root:
        apply_now(slackbox_config, root)
        store = root / "etc/opendkim/keys/slackbox.fr"
        stale = store / ".01.private.0123456789abcdef.tmp"
        stale.write_bytes(generate_private_key("rsa", 1024))
        slackbox_config.write_text(
            slackbox_config.read_text().replace("    p: none\n", "    p: quarantine\n", 1)
        )
        apply_now(slackbox_config, root, LATER)
        assert not stale.exists()
        assert [p.name for p in store.iterdir()] == ["01.private"]


# --- 7. replaced files keep mode and owner -------------------------------------------------------


def test_a_replaced_file_keeps_its_mode_and_owner(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    root = tmp_path / "root"
    apply_now(config, root)
    zone = root / ZONE
    os.chmod(zone, 0o640)
    gid = None
    if os.geteuid() == 0:
        gid = next((g.gr_gid for g in grp.getgrall() if g.gr_gid not in (0, os.getgid())), 1)
        os.chown(zone, 0, gid)
    config.write_text(BIND_ONLY.replace("192.0.2.1}", "192.0.2.7}", 1))
    result = apply_now(config, root, LATER)
    assert any(c.op == "update" and c.path == "/" + ZONE for c in result.changes)
    assert b"192.0.2.7" in zone.read_bytes()
    assert stat.S_IMODE(zone.stat().st_mode) == 0o640
    if gid is not None:
        assert zone.stat().st_gid == gid
    # A new file still gets the artifact's mode.
    assert stat.S_IMODE((root / "etc/named/mailauth.zones.conf").stat().st_mode) == 0o644


# --- 8. plan-time errors carry a position; validate runs the same checks ----------------------


def test_a_path_error_carries_the_targets_position(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", BIND_ONLY.replace('"zone.{zone}"', '"x/../../y"'))
    for args in (("plan", "--root", str(tmp_path / "root")), ("validate",)):
        code, out, err = cli(args[0], "-c", config, *args[1:])
        if code == 1 and "mailauth.yaml:" in err:
            continue  # refused by the schema, or by the render checks
        pytest.fail(f"{args[0]}: exit {code}\n{out}\n{err}")


# --- 9. printed commands run no code ---------------------------------------------------------


@pytest.mark.parametrize("payload", ["$(touch {mark})", "$(>{mark})", "`>{mark}`"])
def test_printed_commands_run_no_code(tmp_path: Path, payload: str) -> None:
    """A target directory holding ``$(touch MARK)``: every command mailauth prints, run by
    a shell with stand-ins for the programs, must not create MARK (or the input is refused
    with a position). A backend's reload line that would run it is withheld, with a
    warning, until that backend quotes its paths."""
    mark = tmp_path / "MARK"
    hostile = "/srv/" + payload.format(mark=mark) + "/zones"
    text = BIND_ONLY + (
        f"  octodns:\n    directory: '{hostile}'\n"
        "    provider: {class: octodns_powerdns.PowerDnsProvider}\n"
    )
    config = write_config(tmp_path / "cfg", text)
    root = tmp_path / "root"
    plan = run_mailauth("plan", "-c", config, "--root", root, expect=None)
    if plan.returncode == 1:
        assert "mailauth.yaml:" in plan.stderr, plan.stderr  # refused at the input: fine
        assert "directory" in plan.stderr, plan.stderr
        return
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("rndc", "octodns-sync", "systemctl", "postfix", "sh"):
        (stubs / name).write_text("#!/bin/true\n")
        os.chmod(stubs / name, 0o755)
    touch = require_binary("touch")
    (stubs / "touch").symlink_to(touch)
    for fmt in ("json", "markdown"):
        shown = run_mailauth("plan", "-c", config, "--root", root, "--format", fmt, expect=None)
        assert shown.returncode in (0, 2), shown.stderr
    doc = json.loads(
        run_mailauth("plan", "-c", config, "--root", root, "--format", "json", expect=None).stdout
    )
    for command in doc["reload"]:
        subprocess.run(["/bin/bash", "-c", command], env={"PATH": str(stubs)}, check=False)
        assert not mark.exists(), f"this JSON reload command ran code: {command}"
    applied = run_mailauth("apply", "-c", config, "--root", root, "--yes")
    lines = [
        line.split("run: ", 1)[1]
        for line in (plan.stdout + applied.stdout).splitlines()
        if line.startswith(("Now run: ", "After apply, run: "))
    ]
    assert lines
    for line in lines:
        subprocess.run(["/bin/bash", "-c", line], env={"PATH": str(stubs)}, check=False)
        assert not mark.exists(), f"this printed command ran code: {line}"


def test_init_prints_a_quoted_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = "$(touch MARK).yaml"
    code, out, _ = cli("init", "-c", name)
    assert code == 0
    assert "mailauth plan -c '$(touch MARK).yaml'" in out


# --- 10. no traceback ----------------------------------------------------------------------


def test_an_unreadable_state_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    root = tmp_path / "root"
    (root / "var/lib/mailauth").mkdir(parents=True)
    (root / "var/lib/mailauth/manifest.json").write_bytes(b"\xff\xfe not json")
    result = subprocess.run(
        mailauth_argv("plan", "-c", config, "--root", root),
        env=mailauth_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not a mailauth manifest" in result.stderr


def test_two_applies_still_serialize(tmp_path: Path) -> None:
    """The lock is opened without following a link, and still excludes a second apply."""
    config = write_config(tmp_path / "cfg")
    root = tmp_path / "root"
    apply_now(config, root)
    lock = root / "var/lib/mailauth/apply.lock"
    lock.unlink()
    lock.symlink_to(tmp_path / "elsewhere.lock")
    with pytest.raises(ConfigError, match="symlink"):
        apply_now(config, root, LATER)
    assert not (tmp_path / "elsewhere.lock").exists()
    lock.unlink()
    from mailauth.compiler.fsio import exclusive_lock

    order: list[str] = []
    with exclusive_lock(lock):
        worker = threading.Thread(
            target=lambda: (apply_now(config, root, LATER), order.append("second"))
        )
        worker.start()
        worker.join(0.5)
        order.append("first")
    worker.join(30)
    assert order == ["first", "second"]

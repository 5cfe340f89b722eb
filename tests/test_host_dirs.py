"""Directories the generated configs name, host steps and check commands (issue 12).

On a stock host nothing makes OpenDKIM's socket directory or OpenDMARC's history directory;
apply must, with the daemon's owner and mode, atomically, recorded in the manifest, and
without ever touching a directory it did not make. Runs as root where owners are checked.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import EXAMPLES, require_binary, safe_directory, unavailable
from typer.testing import CliRunner

from mailauth.backends.base import GroupMember
from mailauth.compiler import driver
from mailauth.compiler.cli import app
from mailauth.compiler.hostdirs import host_steps
from mailauth.compiler.plan import Plan, PlanError
from mailauth.compiler.report import as_json, as_markdown, as_text
from mailauth.schema.errors import ConfigError

MOMENT = datetime(2026, 1, 18, 9, 0, 0, tzinfo=UTC)
SOCKET_DIR = "/var/spool/postfix/opendkim"
HISTORY_DIR = "/var/lib/opendmarc"
AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="owners are set only as root")


def _users_exist(*names: str) -> bool:
    try:
        for name in names:
            pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def slackbox(socket: str = f"local:{SOCKET_DIR}/opendkim.sock") -> dict[str, Any]:
    """The slackbox example without its Postfix side, OpenDKIM on ``socket``."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / "slackbox" / "mailauth.yaml").read_text())
    del config["targets"]["postfix"]
    config["targets"]["opendkim"]["socket"] = socket
    return config


def dual() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (EXAMPLES / "dual-signing" / "mailauth.yaml").read_text()
    )
    del config["targets"]["postfix"]
    return config


@pytest.fixture
def base() -> Any:
    with safe_directory("hostdirs-") as path:
        yield path


def write(base: Path, config: dict[str, Any]) -> Path:
    path = base / "config" / "mailauth.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def plan(config: Path, root: Path) -> Plan:
    return driver.plan(driver.open_job(config, root, None), MOMENT.date())


def apply(config: Path, root: Path) -> None:
    result = driver.apply(driver.open_job(config, root, None), lambda _p: True, now=MOMENT)
    assert result is not None


def manifest(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((root / "var/lib/mailauth/manifest.json").read_text())
    return loaded


def owner_mode(path: Path) -> tuple[str, str, int]:
    st = os.lstat(path)
    return (
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
        stat.S_IMODE(st.st_mode),
    )


def cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout + result.stderr


# -- plan shows directories like files, in every format -------------------------------------


def test_plan_shows_the_socket_directory_in_every_format(base: Path) -> None:
    config = write(base, slackbox())
    result = plan(config, base / "root")
    [wanted] = [d for d in result.directories if d.path == SOCKET_DIR]
    assert (wanted.op, wanted.owner, wanted.group, wanted.mode) == (
        "create",
        "opendkim",
        "opendkim",
        0o750,
    )
    text = as_text(result)
    assert f"==> create directory {SOCKET_DIR} opendkim:opendkim 0750\n" in text
    assert "Directories: 1 to create" in text
    doc = json.loads(as_json(result))
    assert doc["pending"] is True
    [entry] = [d for d in doc["directories"] if d["path"] == SOCKET_DIR]
    assert entry["operation"] == "create" and entry["mode"] == "0750"
    assert entry["owner"] == "opendkim" and entry["current"] is None
    assert f"| create directory | `{SOCKET_DIR}/` |" in as_markdown(result)
    # The pid directory is Debian's (tmpfiles.d): never declared.
    assert "/run/opendkim" not in {d.path for d in result.directories}


def test_inet_socket_and_packaged_pid_directory_need_no_directory(base: Path) -> None:
    config = write(base, slackbox("inet:8891@127.0.0.1"))
    result = plan(config, base / "root")
    assert result.directories == []
    assert "directory" not in as_text(result)
    assert result.host_steps == []


@needs_root
def test_apply_makes_it_records_it_and_plans_empty(base: Path) -> None:
    root = base / "root"
    config = write(base, slackbox())
    apply(config, root)
    assert owner_mode(root / SOCKET_DIR.lstrip("/")) == ("opendkim", "opendkim", 0o750)
    assert manifest(root)["directories"] == {"opendkim": [SOCKET_DIR]}
    again = plan(config, root)
    assert not again.has_work
    code, out = cli("plan", "-c", config, "--root", root)
    assert code == 0, out
    leftovers = [p for p in (root / "var/spool/postfix").iterdir() if p.name != "opendkim"]
    assert leftovers == []  # no temp directory left behind


@needs_root
def test_a_directory_mailauth_made_is_put_right(base: Path) -> None:
    root = base / "root"
    config = write(base, slackbox())
    apply(config, root)
    where = root / SOCKET_DIR.lstrip("/")
    os.chown(where, 0, 0)
    os.chmod(where, 0o755)
    result = plan(config, root)
    [change] = result.pending_dirs
    assert change.op == "update"
    assert f"update directory {SOCKET_DIR} root:root 0755 -> opendkim:opendkim 0750" in (
        as_text(result)
    )
    apply(config, root)
    assert owner_mode(where) == ("opendkim", "opendkim", 0o750)


@needs_root
def test_a_usable_directory_mailauth_did_not_make_is_left_alone(base: Path) -> None:
    root = base / "root"
    where = root / SOCKET_DIR.lstrip("/")
    where.mkdir(parents=True)
    os.chown(where, pwd.getpwnam("opendkim").pw_uid, 0)
    os.chmod(where, 0o700)
    config = write(base, slackbox())
    result = plan(config, root)
    [change] = [d for d in result.directories if d.path == SOCKET_DIR]
    assert (change.op, change.ours) == ("unchanged", False)
    apply(config, root)
    assert owner_mode(where) == ("opendkim", "root", 0o700)  # never chowned
    assert "directories" not in manifest(root)


@needs_root
def test_an_unusable_directory_mailauth_did_not_make_is_refused(base: Path) -> None:
    root = base / "root"
    where = root / SOCKET_DIR.lstrip("/")
    where.mkdir(parents=True, mode=0o755)
    config = write(base, slackbox())
    with pytest.raises((PlanError, ConfigError), match="cannot create files in it"):
        plan(config, root)
    assert owner_mode(where) == ("root", "root", 0o755)


def test_a_symlink_where_the_directory_goes_is_refused(base: Path) -> None:
    root = base / "root"
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    (root / "var/spool/postfix").mkdir(parents=True)
    (root / SOCKET_DIR.lstrip("/")).symlink_to(elsewhere)
    config = write(base, slackbox())
    with pytest.raises((PlanError, ConfigError), match="symlink"):
        plan(config, root)


@needs_root
def test_no_longer_needed_removed_only_when_empty(base: Path) -> None:
    root = base / "root"
    apply(write(base, slackbox()), root)
    where = root / SOCKET_DIR.lstrip("/")
    (where / "keep").write_text("someone's file\n")
    config = write(base, slackbox("inet:8891@127.0.0.1"))
    result = plan(config, root)
    assert any("not empty: left in place" in note for note in result.notes)
    apply(config, root)
    assert where.is_dir()
    assert manifest(root)["directories"] == {"opendkim": [SOCKET_DIR]}
    (where / "keep").unlink()
    result = plan(config, root)
    assert [d.op for d in result.pending_dirs] == ["delete"]
    apply(config, root)
    assert not where.exists()
    assert "directories" not in manifest(root)
    assert not plan(config, root).has_work


@needs_root
def test_dual_signing_makes_the_opendmarc_history_directory(base: Path) -> None:
    if not _users_exist("opendmarc", "dkimpy-milter"):
        unavailable(
            "the opendmarc and dkimpy-milter users are absent (their packages are not installed)"
        )
    root = base / "root"
    config = write(base, dual())
    apply(config, root)
    assert owner_mode(root / HISTORY_DIR.lstrip("/")) == ("opendmarc", "opendmarc", 0o750)
    assert owner_mode(root / "run/dkimpy-milter") == ("dkimpy-milter", "dkimpy-milter", 0o750)
    # /run is a tmpfs: boot makes it again from the tmpfiles.d line.
    tmpfiles = (root / "etc/tmpfiles.d/mailauth-dkimpy-milter.conf").read_text()
    assert "d /run/dkimpy-milter 0750 dkimpy-milter dkimpy-milter - -\n" in tmpfiles
    assert not plan(config, root).has_work


# -- host steps ----------------------------------------------------------------------------


def test_host_step_printed_unchecked_under_a_staging_root(base: Path) -> None:
    config = write(base, slackbox())
    result = plan(config, base / "root")
    assert [(s.command, s.checked) for s in result.host_steps] == [
        ("usermod -aG opendkim postfix", False)
    ]
    assert "  usermod -aG opendkim postfix    # " in as_text(result)
    doc = json.loads(as_json(result))
    assert doc["host_steps"][0]["command"] == "usermod -aG opendkim postfix"
    assert "usermod -aG opendkim postfix" in as_markdown(result)


def test_host_step_on_the_host_only_while_missing() -> None:
    root_group = grp.getgrgid(pwd.getpwnam("root").pw_gid).gr_name
    done = GroupMember("root", root_group, "root's own group")
    missing = GroupMember("root", "mailauth-no-such-group", "a group nobody has")
    steps = host_steps(Path("/"), [("opendkim", done), ("opendkim", missing)])
    assert [(s.command, s.checked) for s in steps] == [
        ("usermod -aG mailauth-no-such-group root", True)
    ]


def test_a_pending_host_step_does_not_change_the_exit_status(base: Path) -> None:
    root = base / "root"
    config = write(base, slackbox("inet:8891@127.0.0.1"))
    apply(config, root)
    config = write(base, slackbox())
    apply(config, root)
    code, out = cli("plan", "-c", config, "--root", root)
    assert code == 0, out
    assert "usermod -aG opendkim postfix" in out


# -- check commands ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["slackbox", "dual"])
def test_printed_checks_run_as_printed_under_the_root(base: Path, which: str) -> None:
    require_binary("opendkim")  # the printed checks run opendkim (and sed) by name
    require_binary("sed")
    root = base / "root"
    config = write(base, slackbox() if which == "slackbox" else dual())
    apply(config, root)
    code, out = cli("plan", "-c", config, "--root", root, "--format", "json")
    assert code == 0, out
    checks = json.loads(out[: out.rindex("}") + 1])["checks"]
    assert checks, "no check command printed"
    for command in checks:
        assert str(root) in command, command
        env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
        done = subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"

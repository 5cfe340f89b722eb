"""Adopted keys are checked as OpenDKIM (RequireSafeKeys) checks them, before it can refuse
them at start: a key others can read, or one below a directory others can write, is an
error naming the key_file: line, with the command that fixes it. Keys mailauth makes pass.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailauth.compiler.cli import app
from mailauth.compiler.dkimkeys import generate_private_key, write_private_key
from mailauth.compiler.keysafety import Node, path_facts, unsafe_key

KEY = "/etc/legacy/legacy.private"

CONFIG = """\
version: 1
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    ns: [ns1.example.org]
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
domains:
  - name: example.org
    dkim:
      selectors:
        - {name: legacy, key_file: %s}
targets:
  opendkim: {socket: "inet:8891@127.0.0.1"}
"""


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [str(a) for a in args],
        prog_name="mailauth",
        env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def _staging(tmp_path: Path, dir_mode: int, key_mode: int) -> tuple[Path, Path, Path]:
    """A config adopting KEY, and a staging root (0755) holding it with these modes."""
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    key = root / KEY.lstrip("/")
    write_private_key(key, generate_private_key("rsa", 1024), dir_mode=0o755)
    os.chmod(key.parent, dir_mode)
    os.chmod(key, key_mode)
    config = tmp_path / "mailauth.yaml"
    config.write_text(CONFIG % KEY)
    return config, root, key


@pytest.mark.parametrize("command", ["plan", "validate", "lint"])
def test_group_readable_key_is_an_error_with_the_fix(tmp_path: Path, command: str) -> None:
    config, root, key = _staging(tmp_path, 0o700, 0o640)
    code, out, err = invoke(command, "-c", config, "--root", root)
    assert code == 1, out + err
    text = " ".join((out + err).split())
    assert f"{config}:13:" in text and "key_file" in text, text
    assert "mode 0640" in text
    assert f"chmod 0600 {key}" in text
    assert "RequireSafeKeys" in text
    assert not (root / "etc/opendkim").exists(), "nothing is written"


def test_key_in_a_world_writable_directory_is_an_error(tmp_path: Path) -> None:
    config, root, key = _staging(tmp_path, 0o777, 0o600)
    code, out, err = invoke("plan", "-c", config, "--root", root)
    assert code == 1, out + err
    text = " ".join(err.split())
    assert f"{key.parent} is writable by its group and other users" in text, text
    assert f"chmod go-w {key.parent}" in text
    assert "chmod 0600" not in text


def test_a_group_writable_directory_higher_up_is_an_error(tmp_path: Path) -> None:
    config, root, _ = _staging(tmp_path, 0o700, 0o600)
    os.chmod(root / "etc", 0o775)
    code, out, err = invoke("plan", "-c", config, "--root", root)
    assert code == 1, out + err
    assert f"chmod go-w {root / 'etc'}" in " ".join(err.split())


def test_0600_key_in_a_0755_directory_is_fine(tmp_path: Path) -> None:
    config, root, _ = _staging(tmp_path, 0o755, 0o600)
    code, out, err = invoke("plan", "-c", config, "--root", root, "--quiet")
    assert code == 2, out + err  # changes to make, no error


def test_what_is_above_the_staging_root_is_not_the_hosts(tmp_path: Path) -> None:
    """The root stands for the host's /: a loose directory above it is not judged."""
    outer = tmp_path / "shared"
    outer.mkdir()
    os.chmod(outer, 0o777)
    config, root, _ = _staging(outer, 0o700, 0o600)
    code, out, err = invoke("validate", "-c", config, "--root", root)
    assert code == 0, out + err


def test_without_a_signer_the_key_is_not_judged(tmp_path: Path) -> None:
    """A DNS-only run reads the key for its public half only; no signer will use it."""
    config, root, _ = _staging(tmp_path, 0o700, 0o644)
    config.write_text(
        (CONFIG % KEY).replace('opendkim: {socket: "inet:8891@127.0.0.1"}', "bind: {}")
    )
    code, out, err = invoke("validate", "-c", config, "--root", root)
    assert code == 0, out + err


def test_keys_mailauth_makes_pass_the_same_check(tmp_path: Path) -> None:
    """apply writes 0600 keys in 0700 directories: the check passes them, and a second
    plan (which adopts them from disk) is clean."""
    root = tmp_path / "root"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        (CONFIG % KEY).replace(
            f"        - {{name: legacy, key_file: {KEY}}}\n", "        - {name: s1}\n"
        )
    )
    code, out, err = invoke("apply", "-c", config, "--root", root, "--yes")
    assert code == 0, out + err
    made = list((root / "etc/opendkim/keys").rglob("*.private"))
    assert made
    for key in made:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert unsafe_key(path_facts(root, key)) == []
        for directory in key.relative_to(root).parents:
            assert not (root / directory).stat().st_mode & 0o022
    code, out, err = invoke("plan", "-c", config, "--root", root, "--quiet")
    assert code == 0, out + err


# --- the rule itself -----------------------------------------------------------------------

DIR = stat.S_IFDIR
REG = stat.S_IFREG


def _nodes(*modes: int) -> tuple[Node, ...]:
    path = Path("/")
    out = []
    for index, mode in enumerate(modes):
        out.append(Node(path, mode))
        path = path / f"n{index}"
    return tuple(out)


def test_rule_safe_layouts() -> None:
    assert unsafe_key(_nodes(DIR | 0o755, DIR | 0o700, REG | 0o600)) == []
    assert unsafe_key(_nodes(DIR | 0o755, DIR | 0o750, REG | 0o400)) == []


def test_rule_reports_every_problem_with_its_fix() -> None:
    reasons = unsafe_key(_nodes(DIR | 0o1777, DIR | 0o770, REG | 0o644))
    # the key's mode first, then each open directory from / down
    assert len(reasons) == 3, reasons
    assert "mode 0644: its group and other users" in reasons[0]
    assert "`chmod 0600 /n0/n1`" in reasons[0]
    assert (
        "/ is writable by its group and other users (the sticky bit does not count)" in (reasons[1])
    )
    assert "/n0 is writable by its group," in reasons[2]
    assert "`chmod go-w /n0`" in reasons[2]


def test_rule_quotes_paths_for_the_shell() -> None:
    nodes = (Node(Path("/"), DIR | 0o755), Node(Path("/a b"), REG | 0o644))
    assert "`chmod 0600 '/a b'`" in unsafe_key(nodes)[0]


def test_rule_says_nothing_about_a_missing_or_odd_file() -> None:
    assert unsafe_key(()) == []
    assert unsafe_key(_nodes(DIR | 0o777, DIR | 0o777)) == []

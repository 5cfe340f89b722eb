"""The command line itself: its help, `init`, `schema`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support.tools import require_module
from typer.testing import CliRunner

from mailauth.compiler.cli import app
from mailauth.schema.models import Config

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("init", "validate", "plan", "apply", "schema")


def invoke(*args: str | Path, columns: int = 200) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [str(a) for a in args],
        prog_name="mailauth",
        env={"COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def command_rows(help_text: str) -> dict[str, list[str]]:
    """Command name -> the help lines printed beside it in `--help`."""
    rows: dict[str, list[str]] = {}
    current: str | None = None
    in_commands = False
    for line in help_text.splitlines():
        if "Commands" in line:
            in_commands = True
            continue
        if not in_commands:
            continue
        match = re.match(r"^[│|]?\s{1,3}([a-z][a-z-]*)\s{2,}(\S.*?)\s*[│|]?$", line)
        if match:
            current = match.group(1)
            rows[current] = [match.group(2)]
            continue
        cont = re.match(r"^[│|]?\s{4,}(\S.*?)\s*[│|]?$", line)
        if cont and current is not None:
            rows[current].append(cont.group(1))
    return rows


def test_help_lists_the_five_commands_with_one_line_each() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    assert "Usage: mailauth" in out
    rows = command_rows(out)
    assert set(COMMANDS) <= set(rows), rows
    for name in COMMANDS:
        lines = rows[name]
        assert len(lines) == 1, f"{name}: help is not one line: {lines}"
        assert len(lines[0]) > 15, f"{name}: help too short: {lines[0]!r}"
        assert lines[0].endswith("."), lines[0]


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_its_own_help(name: str) -> None:
    code, out, _ = invoke(name, "--help")
    assert code == 0
    assert f"Usage: mailauth {name}" in out


def test_no_arguments_shows_help_not_a_traceback() -> None:
    code, out, err = invoke()
    assert code in (0, 2)
    assert "Usage: mailauth" in out + err
    assert "Traceback" not in out + err


def test_unknown_command_is_an_error() -> None:
    code, out, err = invoke("frobnicate")
    assert code == 2
    assert "frobnicate" in out + err


def test_init_writes_a_file_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "mailauth.yaml"
    code, out, err = invoke("init", "-c", target)
    assert code == 0, err
    assert "wrote" in out
    assert target.is_file()
    text = target.read_text()
    assert text.count("#") > 5, "the starter file should be commented"
    code, out, err = invoke("validate", "-c", target)
    assert code == 0, err
    assert "valid" in out


def test_init_does_not_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mailauth.yaml"
    target.write_text("# mine\n")
    code, _, err = invoke("init", "-c", target)
    assert code == 1
    assert "exists" in err and "--force" in err
    assert target.read_text() == "# mine\n"
    code, _, err = invoke("init", "-c", target, "--force")
    assert code == 0, err
    assert target.read_text() != "# mine\n"


def test_schema_prints_valid_json_schema() -> None:
    jsonschema = require_module("jsonschema")
    code, out, _ = invoke("schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"domains", "defaults", "zones", "targets"} <= set(schema["properties"])
    assert "domains" in schema.get("required", [])
    assert schema == Config.model_json_schema()


def test_schema_accepts_the_example_and_refuses_a_misspelt_policy() -> None:
    """Editors using the schema see what mailauth validate says, for the common cases."""
    jsonschema = require_module("jsonschema")
    _, out, _ = invoke("schema")
    validator = jsonschema.Draft202012Validator(json.loads(out))
    example = yaml.safe_load((REPO / "examples/slackbox/mailauth.yaml").read_text())
    assert list(validator.iter_errors(example)) == []
    bad = {"domains": [{"name": "example.org", "dmarc": {"p": "rejct"}}]}
    errors = list(validator.iter_errors(bad))
    assert errors and "rejct" in errors[0].message
    unknown = {"domains": [{"name": "example.org", "dmrac": {}}]}
    assert list(validator.iter_errors(unknown)), "unknown keys must be refused (extra=forbid)"


def test_schema_file_the_examples_point_at_is_current() -> None:
    first = (REPO / "examples/slackbox/mailauth.yaml").read_text().splitlines()[0]
    match = re.search(r"\$schema=(\S+)", first)
    assert match is not None
    stored = (REPO / "examples/slackbox" / match.group(1)).resolve()
    _, out, _ = invoke("schema")
    assert json.loads(stored.read_text()) == json.loads(out)


# --- conventions a Debian admin expects (issue 14, item 1) ------------------------------------

#: Every command and group, for the checks that hold for each help page.
ALL_HELP = [
    (),
    *((name,) for name in (*COMMANDS, "verify", "lint", "keys", "spf")),
    ("keys", "generate"),
    ("spf", "refresh"),
    ("spf", "budget"),
]


def test_version_comes_from_the_package_metadata() -> None:
    from importlib import metadata

    code, out, err = invoke("--version")
    assert code == 0, err
    assert out == f"mailauth {metadata.version('mailauth')}\n"


def test_shell_completion_is_offered() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    assert "--install-completion" in out and "--show-completion" in out
    code, out, err = invoke("--show-completion", "bash")
    assert code == 0, err
    assert "_MAILAUTH_COMPLETE" in out


@pytest.mark.parametrize("words", ALL_HELP, ids=lambda w: " ".join(w) or "mailauth")
def test_help_shows_no_value_for_a_flag_and_no_colour_or_boxes(words: tuple[str, ...]) -> None:
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}, {"TERM": "xterm-256color"}):
        result = CliRunner().invoke(
            app, [*words, "--help"], prog_name="mailauth", env={"COLUMNS": "100", **env}
        )
        out = result.stdout
        assert result.exit_code == 0, out
        assert "<bool>" not in out, out
        assert "\x1b[" not in out, f"colour codes under {env}"
        assert not set(out) & set("╭╮╰╯│─"), f"box drawing under {env}"
        options = out[out.index("Options:") :].splitlines()
        for flag in ("--help", "--quiet", "--yes", "--strict", "--force"):
            for line in options:
                if re.match(rf"^  (-\w, )?{flag}\b", line):  # the flag's own row
                    # A flag takes no value: its name is followed by its help, nothing else.
                    assert re.match(rf"^  (-\w, )?{flag}( / --no-\w+)?\s{{2,}}[A-Z]", line), line


def test_init_help_says_it_writes_the_file() -> None:
    code, out, _ = invoke("init", "--help")
    assert code == 0
    line = next(line for line in out.splitlines() if "--config" in line)
    assert "write" in line.lower() and "read" not in line.lower(), line


def test_colour_needs_a_terminal_that_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mailauth.compiler import cli

    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert cli._colour(no_color=False) is True
    monkeypatch.setenv("TERM", "dumb")
    assert cli._colour(no_color=False) is False


def test_counts_are_singular_for_one(tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text(
        "version: 1\n"
        "zones:\n"
        "  - name: example.org\n"
        "    ns: [ns1.example.net]\n"
        "    records:\n"
        "      - {name: www, type: A, value: 192.0.2.80}\n"
        "domains:\n"
        "  - name: example.org\n"
    )
    code, out, err = invoke("validate", "-c", config)
    assert code == 0, err
    assert re.search(r"valid \(1 domain, \d+ records?\)", out), out
    assert "1 domains" not in out
    code, out, err = invoke("lint", "-c", config)
    assert code == 0, out + err
    assert re.search(r": 0 errors, \d+ warnings?, \d+ info", out), out


def test_validate_says_the_file_is_not_valid_not_that_nothing_was_written(
    tmp_path: Path,
) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text("version: 1\ndomains:\n  - name: example.org\n    dmarc: {p: rejct}\n")
    code, out, err = invoke("validate", "-c", config)
    assert code == 1 and out == ""
    assert "nothing was written" not in err
    assert err.endswith("\n1 error; the file is not valid.\n"), err

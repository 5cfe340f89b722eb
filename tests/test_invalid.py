"""Invalid inputs: each gives its exact positioned message, exit status 1, and writes nothing.

Every ``tests/invalid/<case>.yaml`` has a ``<case>.expected`` holding the error lines the
command must print (without the ``error: `` prefix), with ``<FILE>`` standing for the path
of the file given to ``-c``. The lines must match exactly, all of them, in order: a missing
error, an extra one or a moved position fails the test.

To refresh the expected text after a deliberate change of wording, run with
``MAILAUTH_UPDATE_INVALID=1`` and review the diff of tests/invalid/ before committing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mailauth.compiler.cli import app
from mailauth.schema import loader
from mailauth.schema.errors import ConfigError
from mailauth.schema.loader import load_yaml_text

HERE = Path(__file__).parent / "invalid"
CASES = sorted(p.stem for p in HERE.glob("*.yaml"))
PLACEHOLDER = "<FILE>"
UPDATE = os.environ.get("MAILAUTH_UPDATE_INVALID") == "1"

# Errors found while building the model (after the schema passed). compiler/driver.py
# apply() makes its plan, and so builds the model, before it creates the output root or
# takes its lock, so these too leave nothing behind: the test over every case checks the
# root is empty, and the one over these checks that no output file was written.
BUILD_TIME = {"bad-record-value", "cname-conflict"}


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        return [
            line.removeprefix("error: ")
            for line in self.stderr.splitlines()
            if line.startswith("error: ")
        ]


def run(*args: str | Path) -> Outcome:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def expected_lines(case: str, config: Path) -> list[str]:
    text = (HERE / f"{case}.expected").read_text(encoding="utf-8")
    return [line.replace(PLACEHOLDER, str(config)) for line in text.splitlines() if line]


def place(case: str, tmp_path: Path) -> Path:
    """The case copied alone into a fresh directory, as mailauth.yaml."""
    folder = tmp_path / "config"
    folder.mkdir()
    target = folder / "mailauth.yaml"
    shutil.copyfile(HERE / f"{case}.yaml", target)
    return target


def tree(path: Path) -> list[str]:
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def assert_refused(outcome: Outcome, expected: list[str], *, validate: bool = False) -> None:
    assert outcome.exit_code == 1, outcome
    assert outcome.errors == expected, (
        "error lines differ\n--- expected ---\n"
        + "\n".join(expected)
        + "\n--- got (stderr) ---\n"
        + outcome.stderr
    )
    errors = f"{len(expected)} error" + ("" if len(expected) == 1 else "s")
    # validate never writes, so it does not say that nothing was written.
    footer = "the file is not valid" if validate else "nothing was written"
    assert f"\n{errors}; {footer}.\n" in outcome.stderr, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""


def test_there_are_enough_cases_and_each_has_its_text() -> None:
    assert len(CASES) >= 18
    stems = {p.stem for p in HERE.glob("*.expected")}
    assert stems == set(CASES), "every case needs its .expected and every .expected its case"
    for case in CASES:
        lines = expected_lines(case, Path("x"))
        assert lines, f"{case}.expected is empty"
        for line in lines:
            # FILE:LINE:COL: field.path: message (the file alone when no position exists)
            assert line.startswith("x:"), line
            assert line.count(": ") >= 2, line


@pytest.mark.parametrize("case", CASES)
def test_validate_reports_exact_errors(case: str, tmp_path: Path) -> None:
    config = place(case, tmp_path)
    outcome = run("validate", "-c", config)
    if UPDATE:
        body = "".join(line.replace(str(config), PLACEHOLDER) + "\n" for line in outcome.errors)
        (HERE / f"{case}.expected").write_text(body, encoding="utf-8")
    assert_refused(outcome, expected_lines(case, config), validate=True)
    assert tree(config.parent) == ["mailauth.yaml"]


@pytest.mark.parametrize("case", CASES)
def test_apply_reports_exact_errors_and_writes_nothing(case: str, tmp_path: Path) -> None:
    config = place(case, tmp_path)
    root = tmp_path / "root"
    outcome = run("apply", "-c", config, "--root", root, "--yes")
    assert_refused(outcome, expected_lines(case, config))
    assert tree(root) == [], f"apply wrote under the root: {tree(root)}"
    assert tree(config.parent) == ["mailauth.yaml"], "apply wrote beside the config"


@pytest.mark.parametrize("case", sorted(BUILD_TIME))
def test_apply_build_time_errors_write_no_output_file(case: str, tmp_path: Path) -> None:
    """Build-time errors: the exact message, and no output file."""
    config = place(case, tmp_path)
    root = tmp_path / "root"
    outcome = run("apply", "-c", config, "--root", root, "--yes")
    assert_refused(outcome, expected_lines(case, config))
    files = [p for p in tree(root) if (root / p).is_file() and not p.endswith("apply.lock")]
    assert files == []


@pytest.mark.parametrize("command", ["validate", "apply"])
def test_ten_megabyte_file_is_refused_unread(command: str, tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    head = b"version: 1\ndomains:\n  - name: example.org\n"
    filler = b"# " + b"x" * 97 + b"\n"
    size = 10 * 1024 * 1024
    with config.open("wb") as out:
        out.write(head)
        out.write(filler * ((size - len(head)) // len(filler)))
        out.write(b"#" * (size - out.tell() - 1) + b"\n")
    assert config.stat().st_size == size
    root = tmp_path / "root"
    if command == "apply":
        outcome = run("apply", "-c", config, "--root", root, "--yes")
    else:
        outcome = run("validate", "-c", config)
    expected = [
        f"{config}: (document): file is {size} bytes, over the {loader.MAX_FILE_BYTES} byte limit"
    ]
    assert_refused(outcome, expected, validate=command == "validate")
    assert tree(root) == []


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    config = tmp_path / "nope.yaml"
    outcome = run("validate", "-c", config)
    assert_refused(
        outcome,
        [f"{config}: (document): no such file; run `mailauth init` to create one"],
        validate=True,
    )


# --- the loader's limits, below the CLI ----------------------------------------------------

BOMB = "\n".join(
    [
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
            for i in range(1, 13)  # 10**13 values once expanded
        ),
        "domains: [{name: example.org}]",
    ]
)


def test_alias_bomb_is_refused_before_anything_is_expanded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*_: object) -> None:
        raise AssertionError("the loader started building values from an alias bomb")

    monkeypatch.setattr(loader._Builder, "build", never)
    with pytest.raises(ConfigError) as caught:
        load_yaml_text(BOMB, "bomb.yaml")
    (problem,) = caught.value.problems
    assert problem.where == "bomb.yaml:13:6"
    assert problem.field == "l12"
    assert "alias bomb" in problem.message
    assert str(10**13 + sum(10**k for k in range(13))) in problem.message


def test_aliases_below_the_limit_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit is on the expanded size, exactly: one value under it loads, at it fails."""
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
    # root 1 + keys 2 + a (1 + 3) + b (1 + 2 * 4) = 16 values
    monkeypatch.setattr(loader, "MAX_NODES", 16)
    assert load_yaml_text(text, "ok.yaml").data == {"a": [1, 2, 3], "b": [[1, 2, 3], [1, 2, 3]]}
    monkeypatch.setattr(loader, "MAX_NODES", 15)
    with pytest.raises(ConfigError):
        load_yaml_text(text, "bomb.yaml")


def test_merge_keys_and_shared_anchors_are_fine() -> None:
    text = "base: &base {p: reject, sp: reject}\none: {<<: *base, p: none}\ntwo: {<<: *base}\n"
    data = load_yaml_text(text, "m.yaml").data
    assert data["one"] == {"p": "none", "sp": "reject"}
    assert data["two"] == {"p": "reject", "sp": "reject"}


def test_merges_of_merges_read_as_yaml_defines_them() -> None:
    text = "a: &a {x: 1, y: 0}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\nd: {<<: [*a, *b], w: 4}\n"
    # Spelled out rather than compared with yaml.safe_load: PyYAML 6.0.4 reads `c` as
    # {x: 1, y: 0, z: 3}, taking y from `a` although `b`, which `c` merges, overrides it.
    assert load_yaml_text(text, "m.yaml").data == {
        "a": {"x": 1, "y": 0},
        "b": {"x": 1, "y": 2},
        "c": {"x": 1, "y": 2, "z": 3},
        "d": {"x": 1, "y": 0, "w": 4},
    }


def test_nesting_beyond_what_python_can_recurse_is_an_error_not_a_crash() -> None:
    for depth in (loader.MAX_DEPTH + 5, 5000):
        with pytest.raises(ConfigError) as caught:
            load_yaml_text("x: " + "[" * depth + "]" * depth + "\n", "deep.yaml")
        assert "nested" in str(caught.value)


def test_yaml_still_parses_what_the_loader_refuses() -> None:
    """The cases test mailauth's rules, not a broken YAML parser: PyYAML itself accepts
    the alias bomb (as a graph) and a duplicate key (keeping the last value)."""
    assert yaml.compose(BOMB, Loader=yaml.SafeLoader) is not None
    assert yaml.safe_load("p: none\np: reject\n") == {"p": "reject"}


# --- "did you mean" ----------------------------------------------------------------------------

DMARC_KEYS = ["p", "sp", "np", "adkim", "aspf", "rua", "ruf", "fo", "t", "psd", "pct"]


@pytest.mark.parametrize(
    ("typo", "offered"),
    [
        ("rau", ["rua"]),  # a swap is one edit; difflib offered 'ruf'
        ("aspff", ["aspf"]),
        ("adkm", ["adkim"]),
        ("ps", ["sp", "psd"]),
        ("dmrac", []),  # not a DMARC key at all
        ("x", []),  # one letter off a one-letter key is no typo anyone could see
        ("pp", []),
        ("policy", []),
    ],
)
def test_did_you_mean_finds_swaps_in_short_names_and_nothing_absurd(
    typo: str, offered: list[str]
) -> None:
    from mailauth.schema.validate import suggest

    assert suggest(typo, DMARC_KEYS) == offered

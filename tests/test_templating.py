"""The jinja2 templates (backends/templates/): what they print, and what they refuse.

The conf variants below are settings no golden case uses (no UserID, a group, name
servers, two keys of one domain, verify-only, no milter entry...). Their expected text,
in tests/fixtures/templates/, was written by the string-building renderers the
templates replaced, so it pins the templates to the old bytes.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest
from support import EXAMPLES, REPO

from mailauth.backends import dkimpy_milter, opendkim, opendmarc, templating
from mailauth.backends.templating import (
    Block,
    Inline,
    UnsafeValueError,
    checked,
    key_value_lines,
    render,
)
from mailauth.compiler.build import build_model
from mailauth.compiler.model import MailModel
from mailauth.compiler.plan import FileChange, Plan
from mailauth.compiler.report import as_markdown
from mailauth.schema.validate import load_config

FIXTURES = Path(__file__).parent / "fixtures" / "templates"
Renderer = Callable[[MailModel, Any], str]
RENDERERS: dict[str, Renderer] = {
    "opendkim": opendkim.render_conf,
    "dkimpy_milter": dkimpy_milter.render_conf,
    "opendmarc": opendmarc.render_conf,
}
TWO_SELECTORS = """\
      - name: "01"       # quote it: YAML reads 01 as the number 1
        algorithm: rsa
        bits: 2048
      - name: "02"
        algorithm: rsa
        bits: 2048
"""

#: name -> (target, model's example, settings' example, settings changed)
VARIANTS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "opendkim-no-user": ("opendkim", "slackbox", "slackbox", {"user": None}),
    "opendkim-group-nameservers": (
        "opendkim",
        "slackbox",
        "slackbox",
        {"group": "mail", "nameservers": ["127.0.0.1", "::1"], "syslog": False, "umask": "022"},
    ),
    "opendkim-two-keys": ("opendkim", "two-selectors", "slackbox", {}),
    "dkimpy-verify-only": ("dkimpy_milter", "dual-signing", "dual-signing", {"mode": "v"}),
    "dkimpy-group-umask": (
        "dkimpy_milter",
        "dual-signing",
        "dual-signing",
        {
            "group": "mail",
            "umask": "022",
            "minimum_key_bits": 2048,
            "dns_timeout": 9,
            "syslog": False,
            "internal_hosts": ["*.example.org", "10.0.0.0/8", "::1"],
        },
    ),
    "dkimpy-without-milter": ("dkimpy_milter", "slackbox", "dual-signing", {"mode": "s"}),
    "opendmarc-minimal": (
        "opendmarc",
        "dual-signing",
        "dual-signing",
        {"user": None, "history_file": None, "public_suffix_list": None, "spf": "headers"},
    ),
    "opendmarc-trusted": (
        "opendmarc",
        "dual-signing",
        "dual-signing",
        {
            "authserv_id": "mx.example.org",
            "trusted_authserv_ids": ["a.example", "mail.slackbox.fr"],
            "spf": "fallback",
            "group": "mail",
            "umask": "0",
            "reject_failures": True,
            "required_headers": True,
        },
    ),
    "opendmarc-without-milter": ("opendmarc", "slackbox", "dual-signing", {"syslog": False}),
}


def _loaded(example: str, tmp_path: Path) -> Any:
    name = "slackbox" if example == "two-selectors" else example
    text = (EXAMPLES / name / "mailauth.yaml").read_text(encoding="utf-8")
    if example == "two-selectors":
        one = TWO_SELECTORS.split('      - name: "02"')[0]
        assert one in text
        text = text.replace(one, TWO_SELECTORS)
    folder = tmp_path / example
    folder.mkdir(exist_ok=True)
    (folder / "mailauth.yaml").write_text(text, encoding="utf-8")
    return load_config(folder / "mailauth.yaml")


def render_variant(name: str, tmp_path: Path, renderers: dict[str, Renderer] = RENDERERS) -> str:
    """The conf of one variant, by ``renderers`` (the generator of the fixtures passes the
    old ones)."""
    target_name, model_from, settings_from, update = VARIANTS[name]
    model = build_model(_loaded(model_from, tmp_path))
    target = getattr(_loaded(settings_from, tmp_path).config.targets, target_name)
    return renderers[target_name](model, target.model_copy(update=update))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_conf_variant_is_byte_identical_to_the_old_renderer(name: str, tmp_path: Path) -> None:
    expected = (FIXTURES / f"{name}.conf").read_text(encoding="utf-8")
    assert render_variant(name, tmp_path) == expected


def test_two_keys_of_one_domain_turn_on_multiple_signatures(tmp_path: Path) -> None:
    assert "\nMultipleSignatures  yes\n" in render_variant("opendkim-two-keys", tmp_path)
    assert "MultipleSignatures" not in render_variant("opendkim-no-user", tmp_path)


# --- the guard ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "tab\there", "nul\x00", "esc\x1b[31m", "\x85"])
def test_a_control_character_in_a_value_is_refused(value: str) -> None:
    with pytest.raises(UnsafeValueError):
        checked(value)
    with pytest.raises(UnsafeValueError):
        key_value_lines([("Socket", value)])
    with pytest.raises(UnsafeValueError):
        key_value_lines([(value, "x")])


@pytest.mark.parametrize("value", [None, True, False, 1.5, b"bytes", ["list"]])
def test_a_value_no_config_format_means_is_refused(value: object) -> None:
    with pytest.raises(UnsafeValueError):
        checked(value)


def test_inline_text_keeps_what_it_holds_but_no_line_break() -> None:
    assert checked(Inline("bell\x07 | cell")) == "bell\x07 | cell"
    for value in ("a\nb", "a\u2028b", "a\x1eb"):
        with pytest.raises(UnsafeValueError):
            checked(Inline(value))
    assert checked(Block("line\n\tline\x07\n")) == "line\n\tline\x07\n"
    assert checked("plain text: ok, 1/2") == "plain text: ok, 1/2" and checked(7) == 7


@pytest.mark.parametrize("target_name", sorted(RENDERERS))
def test_a_value_that_slipped_past_validation_stops_the_render(
    target_name: str, tmp_path: Path
) -> None:
    """model_copy skips validation: a socket with a newline would add a directive."""
    model = build_model(_loaded("dual-signing", tmp_path))
    loaded = _loaded("dual-signing" if target_name != "opendkim" else "slackbox", tmp_path)
    target = getattr(loaded.config.targets, target_name)
    bad = target.model_copy(update={"socket": "inet:1@127.0.0.1\nUserID root"})
    with pytest.raises(UnsafeValueError, match="control character"):
        RENDERERS[target_name](model, bad)
    bad = target.model_copy(update={"pid_file": "/run/x\x00.pid"})
    with pytest.raises(UnsafeValueError):
        RENDERERS[target_name](model, bad)


def test_key_value_lines_puts_values_at_a_fixed_column_and_skips_none() -> None:
    lines = key_value_lines([("A", "1"), None, ("Longer", 2)], column=8)
    assert lines == "A       1\nLonger  2"
    assert isinstance(lines, Block)
    # A key too long for the column keeps a gap, and moves no other line.
    longer = key_value_lines([("A", "1"), ("LongerThanIt", 2)], column=8)
    assert longer == "A       1\nLongerThanIt  2"
    assert key_value_lines([("A", "x")], gap=1, column=0) == "A x"
    assert key_value_lines([("A", "x")]) == "A" + " " * 19 + "x"


def test_undefined_names_are_errors_not_empty_text() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("opendkim.conf.j2", header="# h")


def test_markdown_keeps_a_control_character_in_a_cell_but_refuses_a_line_break() -> None:
    """Cells are escaped by report.py (Inline): a record's bell character is kept, as the
    plan always showed it; a path with a newline would break the details tag and stops."""
    change = FileChange("/etc/a\x07b", "create", None, b"x\n")
    assert "`/etc/a\x07b`" in as_markdown(Plan(Path("/r"), [change]))
    change = FileChange("/etc/a\nb", "create", None, b"x\n")
    with pytest.raises(UnsafeValueError, match="line break"):
        as_markdown(Plan(Path("/r"), [change]))


# --- installation and start-up --------------------------------------------------------------


def test_every_template_is_package_data_and_used() -> None:
    """pyproject ships backends/templates/*.j2 (a non-editable install has them), and each
    one is rendered by some module."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = project["tool"]["setuptools"]["package-data"]["mailauth.backends"]
    assert "templates/*.j2" in globs
    names = sorted(p.name for p in templating.TEMPLATES.iterdir())
    assert names == sorted(p.name for p in templating.TEMPLATES.glob("*.j2"))
    sources = "".join(
        p.read_text(encoding="utf-8")
        for p in [*REPO.glob("backends/*.py"), *REPO.glob("compiler/*.py")]
    )
    for name in names:
        assert f'"{name}"' in sources, f"{name} is rendered by nothing"


def test_help_and_backends_do_not_import_jinja2() -> None:
    """jinja2 is imported on the first render only: --help, validate and schema skip it."""
    code = (
        "import sys\n"
        "import mailauth.backends, mailauth.backends.opendkim, mailauth.compiler.report\n"
        "from mailauth.compiler.cli import main\n"
        "sys.argv = ['mailauth', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'jinja2' not in sys.modules, 'jinja2 imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr

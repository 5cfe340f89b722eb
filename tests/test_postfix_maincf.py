"""Tests for mailauth.backends.postfix_maincf: in-place main.cf editing with postconf semantics.

The property tests build main.cf files from a structured description and compute the expected
values from that description alone, so they do not trust the module's own parser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.tools import require_binary

from mailauth.backends.postfix_maincf import (
    FOLD_WIDTH,
    get_parameters,
    postconf_script,
    set_parameters,
    snippet,
)

RESTRICTIONS = (
    "permit_mynetworks, permit_sasl_authenticated, "
    "reject_rhsbl_helo dbl.spamhaus.org, reject_rhsbl_reverse_client dbl.spamhaus.org, "
    "reject_rhsbl_sender dbl.spamhaus.org, reject_rbl_client zen.spamhaus.org, "
    "reject_unauth_destination"
)

MILTER_PARAMS = {
    "smtpd_milters": "inet:127.0.0.1:8891",
    "non_smtpd_milters": "$smtpd_milters",
    "milter_default_action": "accept",
    "milter_protocol": "6",
    "smtpd_recipient_restrictions": RESTRICTIONS,
}

# A Debian-like main.cf with the traps: duplicates, a definition whose continuation lines are
# split by a comment and a blank line, a value containing '#', no newline at the end.
EXISTING = (
    "# See /usr/share/postfix/main.cf.dist for a commented, more complete version\n"
    "\n"
    "smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)\n"
    "biff = no\n"
    "milter_default_action = tempfail\n"
    "smtpd_milters = unix:/run/old-milter.sock\n"
    "\n"
    "# TLS parameters\n"
    "smtpd_tls_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem\n"
    "smtpd_recipient_restrictions = permit_mynetworks,\n"
    "    permit_sasl_authenticated,\n"
    "# spam lists, added 2021\n"
    "\n"
    "    reject_rbl_client zen.spamhaus.org,\n"
    "\treject_unauth_destination\n"
    "myhostname = mail.example.org\n"
    "alias_maps = hash:/etc/aliases # not a comment\n"
    "smtpd_milters = inet:127.0.0.1:9999\n"
    "milter_default_action = tempfail\n"
    "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"
)


# --------------------------------------------------------------------------- helpers


def start_lines(text: str) -> list[str]:
    """Names of the logical lines, from a deliberately naive reading of column 0."""
    names = []
    for line in text.split("\n"):
        if line and line[0] not in " \t#":
            names.append(line.split("=", 1)[0].strip())
    return names


def lines_outside(text: str, names: set[str]) -> list[str]:
    """Physical lines not owned by a definition of one of ``names`` (comments count as
    outside: Postfix ignores them wherever they are)."""
    kept = []
    owned = False
    for line in text.split("\n"):
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            kept.append(line)
            continue
        if line[0] not in " \t":
            owned = line.split("=", 1)[0].strip() in names
        if not owned:
            kept.append(line)
    while kept and kept[-1] == "":
        kept.pop()
    return kept


# --------------------------------------------------------------------------- unit tests


def test_get_parameters_reads_postfix_semantics() -> None:
    values = get_parameters(EXISTING)
    assert values["smtpd_recipient_restrictions"] == (
        "permit_mynetworks, permit_sasl_authenticated, "
        "reject_rbl_client zen.spamhaus.org, reject_unauth_destination"
    )
    assert values["smtpd_milters"] == "inet:127.0.0.1:9999"  # the last one wins
    assert values["alias_maps"] == "hash:/etc/aliases # not a comment"
    assert values["smtpd_tls_cert_file"] == "/etc/ssl/certs/ssl-cert-snakeoil.pem"
    assert values["mynetworks"] == "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"


def test_get_parameters_edge_syntax() -> None:
    text = (
        "  orphan = ignored by postfix\n"
        "   more orphan\n"
        "a=1\n"
        "b\t=\t two words \t\n"
        "empty =\n"
        "c = x\r\n"
        "d\n"
        "  = split before the equals sign\n"
        "e = #not a comment\n"
        "f = first\n"
        "   # indented comment, ignored\n"
        "\n"
        "    second\n"
    )
    assert get_parameters(text) == {
        "a": "1",
        "b": "two words",
        "empty": "",
        "c": "x",
        "d": "split before the equals sign",
        "e": "#not a comment",
        "f": "first second",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("noequals\n", "missing '=' after attribute name"),
        ("foo bar = baz\n", "missing '=' after attribute name"),
        ("a = 1\n= foo\n", "line 2: missing attribute name"),
    ],
)
def test_malformed_main_cf_is_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_parameters(text)
    with pytest.raises(ValueError, match=message):
        set_parameters(text, {"a": "2"})


def test_replace_in_place_keeps_everything_else() -> None:
    text = "# head\nbiff = no\n\n# keep me\nrelayhost = old   # tail\ninet_interfaces = all\n"
    out = set_parameters(text, {"relayhost": "[smtp.example.org]:587"})
    assert out == (
        "# head\nbiff = no\n\n# keep me\nrelayhost = [smtp.example.org]:587\n"
        "inet_interfaces = all\n"
    )


def test_continuation_lines_are_replaced_and_interleaved_comments_kept() -> None:
    out = set_parameters(EXISTING, {"smtpd_recipient_restrictions": "reject_unauth_destination"})
    assert out == EXISTING.replace(
        "smtpd_recipient_restrictions = permit_mynetworks,\n"
        "    permit_sasl_authenticated,\n"
        "# spam lists, added 2021\n"
        "\n"
        "    reject_rbl_client zen.spamhaus.org,\n"
        "\treject_unauth_destination\n",
        "smtpd_recipient_restrictions = reject_unauth_destination\n# spam lists, added 2021\n\n",
    )


def test_duplicates_collapse_onto_the_last_definition() -> None:
    out = set_parameters(EXISTING, {"smtpd_milters": "inet:127.0.0.1:8891"})
    assert "unix:/run/old-milter.sock" not in out
    assert "smtpd_milters = inet:127.0.0.1:9999" not in out
    assert start_lines(out).count("smtpd_milters") == 1
    # The surviving definition sits where the last one was, after myhostname/alias_maps.
    assert out.index("alias_maps") < out.index("smtpd_milters = inet:127.0.0.1:8891")
    assert get_parameters(out)["smtpd_milters"] == "inet:127.0.0.1:8891"


def test_duplicates_with_the_right_value_only_lose_the_earlier_lines() -> None:
    out = set_parameters(EXISTING, {"milter_default_action": "tempfail"})
    assert out == EXISTING.replace("milter_default_action = tempfail\n", "", 1)


def test_append_adds_a_newline_first() -> None:
    out = set_parameters("biff = no", {"milter_protocol": "6", "smtpd_milters": "inet:[::1]:1"})
    assert out == "biff = no\nmilter_protocol = 6\nsmtpd_milters = inet:[::1]:1\n"
    assert set_parameters("", {"a": ""}) == "a =\n"


def test_unchanged_input_is_returned_byte_for_byte() -> None:
    text = "a = 1\n  # c\nb = x,\n    y\r\nc =   3   \n"
    assert set_parameters(text, {"a": "1", "b": "x, y", "c": "3"}) == text
    assert set_parameters(text, {}) == text
    no_newline = "a = 1"
    assert set_parameters(no_newline, {"a": "1"}) == no_newline


def test_idempotent_on_the_realistic_file() -> None:
    once = set_parameters(EXISTING, MILTER_PARAMS)
    assert set_parameters(once, MILTER_PARAMS) == once
    values = get_parameters(once)
    for name, value in MILTER_PARAMS.items():
        assert values[name] == value
        assert start_lines(once).count(name) == 1
    assert values["myhostname"] == "mail.example.org"


def test_long_lists_are_folded_one_item_per_line() -> None:
    out = set_parameters("", {"smtpd_recipient_restrictions": RESTRICTIONS})
    assert out == (
        "smtpd_recipient_restrictions =\n"
        " permit_mynetworks,\n"
        " permit_sasl_authenticated,\n"
        " reject_rhsbl_helo dbl.spamhaus.org,\n"
        " reject_rhsbl_reverse_client dbl.spamhaus.org,\n"
        " reject_rhsbl_sender dbl.spamhaus.org,\n"
        " reject_rbl_client zen.spamhaus.org,\n"
        " reject_unauth_destination\n"
    )
    spaces = " ".join(f"192.0.2.{i}/32" for i in range(10))
    assert set_parameters("", {"mynetworks": spaces}).count("\n") == 11


def test_short_or_unfoldable_values_stay_on_one_line() -> None:
    short = "permit_mynetworks, reject_unauth_destination"
    assert set_parameters("", {"x": short}) == f"x = {short}\n"
    long_token = "a" * (FOLD_WIDTH + 10)
    assert set_parameters("", {"x": long_token}) == f"x = {long_token}\n"
    # Folding here would turn "#b" into a comment line.
    comment_trap = "a" * FOLD_WIDTH + ", #b"
    assert set_parameters("", {"x": comment_trap}) == f"x = {comment_trap}\n"
    double_space = "a" * FOLD_WIDTH + ",  b"
    assert set_parameters("", {"x": double_space}) == f"x = {double_space}\n"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": "1\nb = 2"}, "control character"),
        ({"a": "1\r"}, "control character"),
        ({"a": "x\x00"}, "control character"),
        ({"a": " 1"}, "leading or trailing whitespace"),
        ({"a": "1\t"}, "leading or trailing whitespace"),
        ({"": "1"}, "invalid Postfix parameter name"),
        ({"a b": "1"}, "invalid Postfix parameter name"),
        ({"a=b": "1"}, "invalid Postfix parameter name"),
        ({"#a": "1"}, "invalid Postfix parameter name"),
        ({"a\n": "1"}, "invalid Postfix parameter name"),
        ({"a": 1}, "value must be a string"),
    ],
)
def test_values_and_names_that_would_corrupt_are_rejected(
    params: dict[str, object], message: str
) -> None:
    bad: Any = params
    with pytest.raises(ValueError, match=message):
        set_parameters("a = 0\n", bad)
    with pytest.raises(ValueError, match=message):
        postconf_script(bad)
    with pytest.raises(ValueError, match=message):
        snippet(bad)


def test_postconf_script_quotes_for_sh() -> None:
    script = postconf_script({"smtpd_banner": "it's $myhostname", "mydestination": ""})
    assert script.startswith("#!/bin/sh\n# Generated by mailauth.\nset -eu\n")
    assert script.endswith(
        "postconf -e -- 'smtpd_banner = it'\"'\"'s $myhostname'\npostconf -e -- 'mydestination ='\n"
    )
    with_dir = postconf_script({"a": "1"}, config_dir="/etc/postfix test")
    assert "postconf -c '/etc/postfix test' -e -- 'a = 1'\n" in with_dir


def test_snippet_has_a_header_and_reads_back() -> None:
    text = snippet(MILTER_PARAMS)
    assert text.startswith("# Generated by mailauth")
    assert get_parameters(text) == MILTER_PARAMS
    assert snippet(MILTER_PARAMS) == text


# --------------------------------------------------------------------------- properties

_names = st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True)
_word = st.text(
    alphabet=st.characters(
        min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=",", include_characters="é"
    ),
    min_size=1,
    max_size=12,
)
# A continuation piece must not start with '#' (that line would be a comment).
_piece = st.lists(_word, min_size=1, max_size=4).map(" ".join).filter(lambda p: p[0] != "#")
_gap = st.text(alphabet=" \t", max_size=3)
_indent = st.text(alphabet=" \t", min_size=1, max_size=5)
_ignorable = st.sampled_from(["", "   ", "\t", "# a comment", "  # indented comment", "#"])
_list_value = st.lists(_piece, min_size=1, max_size=14).flatmap(
    lambda items: st.sampled_from([", ".join(items), " ".join(items)])
)
_any_value = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), max_size=120).filter(
    lambda v: v == v.strip(" \t\n\v\f\r")
)
_wanted_value = st.one_of(_list_value, _any_value, st.just(""))


@dataclass(frozen=True)
class Entry:
    """One definition as the generator wrote it, with the value Postfix will see."""

    name: str
    lines: tuple[str, ...]
    value: str


@st.composite
def _entry(draw: st.DrawFn, names: list[str]) -> Entry:
    name = draw(st.sampled_from(names))
    head = draw(st.one_of(st.just(""), _piece))
    pieces = draw(st.lists(_piece, max_size=3))
    lines = [f"{name}{draw(_gap)}={draw(_gap)}{head}{draw(_gap)}"]
    for piece in pieces:
        lines.extend(draw(st.lists(_ignorable, max_size=2)))
        lines.append(f"{draw(_indent)}{piece}{draw(_gap)}")
    value = " ".join(p for p in [head, *pieces] if p)
    return Entry(name=name, lines=tuple(lines), value=value)


@st.composite
def main_cf(draw: st.DrawFn) -> tuple[str, list[Entry]]:
    """A main.cf text and the definitions in it, in file order."""
    names = draw(st.lists(_names, min_size=1, max_size=6, unique=True))
    entries = draw(st.lists(_entry(names), max_size=10))
    out: list[str] = draw(st.lists(_ignorable, max_size=2))
    for entry in entries:
        out.extend(entry.lines)
        out.extend(draw(st.lists(_ignorable, max_size=2)))
    text = "\n".join(out)
    terminated = draw(st.booleans())
    if out and terminated:
        text += "\n"
    return text, entries


@st.composite
def edit(draw: st.DrawFn) -> tuple[str, list[Entry], dict[str, str]]:
    """A main.cf and parameters to set: some already defined, some new."""
    text, entries = draw(main_cf())
    existing = sorted({entry.name for entry in entries})
    keys = draw(st.lists(st.sampled_from(existing), unique=True)) if existing else []
    keys += draw(st.lists(_names.filter(lambda n: n not in existing), unique=True, max_size=3))
    params = {key: draw(_wanted_value) for key in dict.fromkeys(keys)}
    return text, entries, params


def _effective(entries: list[Entry]) -> dict[str, str]:
    return {entry.name: entry.value for entry in entries}


_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(main_cf())
def test_property_get_parameters_matches_the_generator(case: tuple[str, list[Entry]]) -> None:
    text, entries = case
    assert get_parameters(text) == _effective(entries)


@_settings
@given(edit())
def test_property_set_parameters(case: tuple[str, list[Entry], dict[str, str]]) -> None:
    text, entries, params = case
    out = set_parameters(text, params)

    expected = {**_effective(entries), **params}
    assert get_parameters(out) == expected
    for name in params:
        assert start_lines(out).count(name) == 1
    # Every line not belonging to a set parameter survives, in order, byte for byte.
    assert lines_outside(out, set(params)) == lines_outside(text, set(params))
    assert set_parameters(out, params) == out


@_settings
@given(main_cf(), st.data())
def test_property_matching_file_is_unchanged(
    case: tuple[str, list[Entry]], data: st.DataObject
) -> None:
    text, entries = case
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.name] = counts.get(entry.name, 0) + 1
    once = sorted(name for name, count in counts.items() if count == 1)
    keys = data.draw(st.lists(st.sampled_from(once), unique=True)) if once else []
    effective = _effective(entries)
    assert set_parameters(text, {key: effective[key] for key in keys}) == text


@_settings
@given(st.dictionaries(_names, _wanted_value, max_size=6))
def test_property_snippet_and_script_round_trip(params: dict[str, str]) -> None:
    assert get_parameters(snippet(params)) == params
    script = postconf_script(params)
    assert script.startswith("#!/bin/sh\n")
    assert len([line for line in script.splitlines() if " -e -- " in line]) == len(params)


# --------------------------------------------------------------------------- real postconf


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_require_binary_fails_only_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="not installed"):
        require_binary("postconf")


def _postconf_n(postconf: str, config_dir: Path) -> tuple[dict[str, str], str]:
    result = subprocess.run(
        [postconf, "-c", str(config_dir), "-n"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" = ")
        values[name] = value
    return values, result.stderr


def _config_dir(tmp_path: Path, main_cf_text: str) -> Path:
    # postconf -c DIR needs only main.cf; an empty master.cf just silences
    # "warning: open DIR/master.cf: No such file or directory".
    config_dir = tmp_path / "postfix"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text(main_cf_text)
    (config_dir / "master.cf").write_text("")
    return config_dir


def test_real_postconf_reads_the_edited_file(tmp_path: Path) -> None:
    postconf = require_binary("postconf")
    config_dir = _config_dir(tmp_path, EXISTING)

    _before, stderr = _postconf_n(postconf, config_dir)
    assert "overriding earlier entry" in stderr  # the fixture really has the problem

    main_cf_path = config_dir / "main.cf"
    main_cf_path.write_text(set_parameters(main_cf_path.read_text(), MILTER_PARAMS))
    values, stderr = _postconf_n(postconf, config_dir)

    assert "overriding earlier entry" not in stderr
    assert "main.cf" not in stderr, stderr
    for name, value in MILTER_PARAMS.items():
        assert values[name] == value
    assert values["myhostname"] == "mail.example.org"
    assert values["alias_maps"] == "hash:/etc/aliases # not a comment"
    # Postfix's own reading agrees with ours on every parameter in the file.
    ours = get_parameters(main_cf_path.read_text())
    assert {name: values[name] for name in ours} == ours


def test_real_postconf_runs_the_script(tmp_path: Path) -> None:
    postconf = require_binary("postconf")
    sh = require_binary("sh")
    config_dir = _config_dir(tmp_path, EXISTING)
    params = {**MILTER_PARAMS, "smtpd_banner": '$myhostname ESMTP it\'s "quoted" `not run`'}
    script = tmp_path / "apply.sh"
    script.write_text(postconf_script(params, config_dir=str(config_dir)))

    env = {**os.environ, "PATH": f"{Path(postconf).parent}:{os.environ.get('PATH', '')}"}
    result = subprocess.run([sh, str(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr

    values, _stderr = _postconf_n(postconf, config_dir)
    for name, value in params.items():
        assert values[name] == value
    # EXISTING has no final newline; bare `postconf -e` would glue the first new parameter
    # onto this last line.
    assert values["mynetworks"] == "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"

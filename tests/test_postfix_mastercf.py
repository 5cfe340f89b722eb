"""master.cf edits with postconf -M/-P semantics (issue 12), checked against real postconf."""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import require_binary

from mailauth.backends.postfix_maincf import get_parameters
from mailauth.backends.postfix_mastercf import (
    MasterCfError,
    MasterOwnership,
    apply_signing_tag,
    ensure_service,
    get_service,
    parse_master,
    postconf_commands,
    remove_service,
    remove_service_option,
    render_entry,
    set_service_option,
    undo,
)

FIXTURES = Path(__file__).parent / "fixtures" / "debian"
STOCK = (FIXTURES / "master.cf").read_text()
STOCK_MAIN = get_parameters((FIXTURES / "main.cf").read_text())
TAG = ("milter_macro_daemon_name", "ORIGINATING")


def diff(a: str, b: str) -> list[str]:
    """Changed lines only (+/-), without headers."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(a.splitlines(True), b.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# --------------------------------------------------------------------------- parsing


def test_parse_debian_stock_services() -> None:
    services = parse_master(STOCK)
    keys = [s.key for s in services]
    assert keys[:3] == ["smtp/inet", "pickup/unix", "cleanup/unix"]
    assert "smtp/unix" in keys and "postlog/unix-dgram" in keys
    assert "submission/inet" not in keys  # commented out in the package's file
    relay = get_service(STOCK, "relay", "unix")
    assert relay is not None
    assert relay.options == (("syslog_name", "postfix/$service_name"),)
    # The span ends at the last real line; the commented option line after it is not ours.
    assert STOCK.splitlines()[relay.last_line - 1] == "        -o syslog_name=postfix/$service_name"
    assert STOCK.splitlines()[relay.last_line].startswith("#       -o smtp_helo_timeout")
    maildrop = get_service(STOCK, "maildrop", "unix")
    assert maildrop is not None
    assert maildrop.fields[7] == "pipe"
    assert maildrop.args == (
        "flags=DRXhu",
        "user=vmail",
        "argv=/usr/bin/maildrop",
        "-d",
        "${recipient}",
    )
    assert maildrop.options == ()


def test_parse_braces_and_option_forms() -> None:
    text = (
        "a unix - - n - - smtpd -o { x = y z } -ofoo=bar -o b=c\n"
        "  -o  d=e -v\n"
        "# comment inside the entry\n"
        "\t-o\n  f=g\n"
    )
    (entry,) = parse_master(text)
    assert entry.options == (("x", "y z"), ("b", "c"), ("d", "e"), ("f", "g"))
    assert entry.option("x") == "y z"
    assert entry.first_line == 1 and entry.last_line == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smtp inet n - y - smtpd\n", "line 1: bad field count"),
        ("# c\nsmtp inet n - y - - smtpd -o { a = b\n", "line 2: missing '}'"),
        ("smtp inet n - y - - smtpd }\n", "line 1: unexpected '}'"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(MasterCfError, match=message):
        parse_master(text)


# --------------------------------------------------------------------------- option edits


def test_set_option_changes_only_that_text() -> None:
    edited = set_service_option(STOCK, "relay", "unix", "syslog_name", "postfix/relay")
    assert diff(STOCK, edited) == [
        "-        -o syslog_name=postfix/$service_name",
        "+        -o syslog_name=postfix/relay",
    ]
    assert set_service_option(edited, "relay", "unix", "syslog_name", "postfix/relay") == edited


def test_add_option_goes_after_the_last_real_line_with_its_indent() -> None:
    edited = set_service_option(STOCK, "relay", "unix", "smtp_helo_timeout", "5")
    lines = edited.splitlines()
    i = lines.index("        -o syslog_name=postfix/$service_name")
    assert lines[i + 1] == "        -o smtp_helo_timeout=5"
    assert lines[i + 2].startswith("#       -o smtp_helo_timeout=5")  # comment stays after
    assert remove_service_option(edited, "relay", "unix", "smtp_helo_timeout") == STOCK


def test_value_with_whitespace_uses_braces() -> None:
    edited = set_service_option(STOCK, "smtp", "inet", "smtpd_banner", "$myhostname ESMTP")
    assert "  -o { smtpd_banner = $myhostname ESMTP }\n" in edited
    entry = get_service(edited, "smtp", "inet")
    assert entry is not None and entry.option("smtpd_banner") == "$myhostname ESMTP"


def test_remove_option_on_the_service_line_and_between_others() -> None:
    text = "a unix - - n - - smtpd -o x=1 -v\n  -o y=2 -o z=3\n  -o w=4\nb unix - - n - - x\n"
    assert remove_service_option(text, "a", "unix", "x") == (
        "a unix - - n - - smtpd -v\n  -o y=2 -o z=3\n  -o w=4\nb unix - - n - - x\n"
    )
    assert remove_service_option(text, "a", "unix", "y") == (
        "a unix - - n - - smtpd -o x=1 -v\n  -o z=3\n  -o w=4\nb unix - - n - - x\n"
    )
    assert remove_service_option(text, "a", "unix", "w") == (
        "a unix - - n - - smtpd -o x=1 -v\n  -o y=2 -o z=3\nb unix - - n - - x\n"
    )
    assert remove_service_option(text, "a", "unix", "nothere") == text
    assert remove_service_option(text, "nothere", "unix", "x") == text


def test_duplicate_option_last_wins_and_removal_removes_all() -> None:
    text = "a unix - - n - - smtpd\n  -o x=1\n  -o x=2\n"
    entry = get_service(text, "a", "unix")
    assert entry is not None and entry.option("x") == "2"
    assert (
        set_service_option(text, "a", "unix", "x", "3")
        == "a unix - - n - - smtpd\n  -o x=1\n  -o x=3\n"
    )
    assert remove_service_option(text, "a", "unix", "x") == "a unix - - n - - smtpd\n"


def test_edits_refuse_what_postfix_cannot_hold() -> None:
    with pytest.raises(MasterCfError, match="no submission/inet"):
        set_service_option(STOCK, "submission", "inet", "a", "b")
    with pytest.raises(MasterCfError, match="name"):
        set_service_option(STOCK, "smtp", "inet", "bad name", "b")
    with pytest.raises(MasterCfError, match="may not contain"):
        set_service_option(STOCK, "smtp", "inet", "a", "b\nc")
    with pytest.raises(MasterCfError, match="more than once"):
        set_service_option(STOCK + STOCK.splitlines(True)[11], "smtp", "inet", "a", "b")


def test_missing_final_newline() -> None:
    text = "a unix - - n - - smtpd"
    edited = set_service_option(text, "a", "unix", "x", "1")
    assert edited == "a unix - - n - - smtpd\n  -o x=1\n"
    assert ensure_service(text, "b", "inet", ("n", "-", "n", "-", "-", "smtpd")).startswith(
        "a unix - - n - - smtpd\nb "
    )


# --------------------------------------------------------------------------- services


def test_ensure_service_goes_after_debians_commented_template() -> None:
    fields = ("n", "-", "y", "-", "-", "smtpd")
    edited = ensure_service(STOCK, "submission", "inet", fields, [TAG])
    lines = edited.splitlines()
    i = lines.index("submission inet  n       -       y       -       -       smtpd")
    assert lines[i - 1] == "#  -o milter_macro_daemon_name=ORIGINATING"
    assert lines[i + 1] == "  -o milter_macro_daemon_name=ORIGINATING"
    assert lines[i + 2].startswith("# Choose one: enable submissions")
    assert ensure_service(edited, "submission", "inet", fields, [TAG]) == edited
    assert remove_service(edited, "submission", "inet") == STOCK
    # Without a template: at the end.
    assert ensure_service(STOCK, "foo", "unix", fields).endswith(
        "\nfoo       unix  n       -       y       -       -       smtpd\n"
    )


def test_ensure_service_keeps_an_existing_entry_columns() -> None:
    edited = ensure_service(STOCK, "smtp", "inet", ("n", "-", "n", "-", "-", "smtpd"), [TAG])
    assert diff(STOCK, edited) == ["+  -o milter_macro_daemon_name=ORIGINATING"]


def test_render_entry_refuses_bad_columns() -> None:
    with pytest.raises(MasterCfError):
        render_entry("a", "inet", ("n", "-", "y", "-", "-"))
    with pytest.raises(MasterCfError):
        render_entry("a b", "inet", ("n", "-", "y", "-", "-", "smtpd"))
    with pytest.raises(MasterCfError):
        render_entry("a", "tcp", ("n", "-", "y", "-", "-", "smtpd"))


# --------------------------------------------------------------------------- the signing tag

GOLDEN = FIXTURES / "master.cf.signing"


def test_golden_signing_tag_on_debian_stock_master_cf() -> None:
    edit = apply_signing_tag(STOCK, cleanup=True, main_cf=STOCK_MAIN)
    assert edit.text == GOLDEN.read_text()
    assert edit.ownership.created == ("submission/inet", "submissions/inet")
    assert {(o.service, o.name, o.value, o.previous) for o in edit.ownership.options} >= {
        ("submission/inet", "milter_macro_daemon_name", "ORIGINATING", None),
        ("submissions/inet", "smtpd_tls_wrappermode", "yes", None),
        ("cleanup/unix", "milter_macro_daemon_name", "ORIGINATING", None),
    }
    # No SASL invented: Debian's file has none, so the notes say what the admin must add.
    assert "smtpd_sasl_auth_enable" not in edit.text.replace("#  -o smtpd_sasl_auth_enable", "")
    assert any("submission/inet has no SASL" in note for note in edit.notes)
    assert any("submissions/inet uses TLS wrapper mode" in note for note in edit.notes)

    # Apply twice: identical. Remove: byte-identical original. Manifest survives JSON.
    owned = MasterOwnership.from_json(edit.ownership.to_json())
    again = apply_signing_tag(edit.text, cleanup=True, previous=owned, main_cf=STOCK_MAIN)
    assert again.text == edit.text and again.ownership == owned
    assert undo(edit.text, owned) == STOCK
    # Dropping the cleanup override later removes only that.
    fewer = apply_signing_tag(edit.text, previous=owned)
    assert diff(edit.text, fewer.text) == ["-  -o milter_macro_daemon_name=ORIGINATING"]


def test_host_submission_keeps_its_sasl_and_gets_the_tag() -> None:
    host = STOCK.replace(
        "#submission inet n       -       y       -       -       smtpd\n"
        "#  -o syslog_name=postfix/submission\n",
        "submission inet n       -       y       -       -       smtpd\n"
        "  -o syslog_name=postfix/submission\n"
        "  -o smtpd_sasl_auth_enable=yes\n"
        "  -o milter_macro_daemon_name=OLD\n",
    )
    edit = apply_signing_tag(host, services=["submission/inet"], main_cf=STOCK_MAIN)
    assert diff(host, edit.text) == [
        "-  -o milter_macro_daemon_name=OLD",
        "+  -o milter_macro_daemon_name=ORIGINATING",
    ]
    assert edit.ownership.created == ()
    assert edit.notes == ()  # SASL is on for this service
    assert undo(edit.text, edit.ownership) == host


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("smtps     inet  n       -       y       -       -       smtpd\n", "smtps/inet"),
        ("127.0.0.1:submissions inet n - y - - smtpd\n", "127.0.0.1:submissions/inet"),
        ("465 inet n - y - - smtpd\n", "465/inet"),
    ],
)
def test_listener_under_another_name_is_tagged_not_duplicated(line: str, key: str) -> None:
    edit = apply_signing_tag(STOCK + line, services=["submissions/inet"])
    assert edit.ownership.created == ()
    assert [o.service for o in edit.ownership.options] == [key]
    assert "\nsubmissions " not in edit.text
    assert undo(edit.text, edit.ownership) == STOCK + line


def test_created_service_follows_the_hosts_smtp_chroot() -> None:
    host = STOCK.replace(
        "smtp      inet  n       -       y       -       -       smtpd",
        "smtp      inet  n       -       n       -       -       smtpd",
    )
    edit = apply_signing_tag(host, services=["submission/inet"])
    entry = get_service(edit.text, "submission", "inet")
    assert entry is not None and entry.fields[4] == "n"


def test_admin_changes_to_our_service_survive_undo() -> None:
    edit = apply_signing_tag(STOCK, services=["submission/inet"])
    changed = set_service_option(edit.text, "submission", "inet", "smtpd_sasl_auth_enable", "yes")
    back = undo(changed, edit.ownership)
    entry = get_service(back, "submission", "inet")
    assert entry is not None and entry.options == (("smtpd_sasl_auth_enable", "yes"),)


def test_unknown_service_without_standard_line_is_an_error() -> None:
    with pytest.raises(MasterCfError, match="no standard line"):
        apply_signing_tag(STOCK, services=["custom/inet"])
    with pytest.raises(MasterCfError, match="name/type"):
        apply_signing_tag(STOCK, services=["submission"])


def test_damaged_manifest_is_an_error() -> None:
    with pytest.raises(ValueError, match="manifest"):
        MasterOwnership.from_json({"created": ["nope"]})
    with pytest.raises(ValueError, match="manifest"):
        MasterOwnership.from_json({"options": [{"service": "a/inet"}]})


def test_postconf_commands_for_the_signing_edit() -> None:
    edit = apply_signing_tag(STOCK, cleanup=True)
    commands = postconf_commands(STOCK, edit.text, config_dir="/etc/postfix test")
    assert commands == [
        "postconf -c '/etc/postfix test' -M 'submission/inet=submission inet  n       -       "
        "y       -       -       smtpd -o syslog_name=postfix/submission "
        "-o milter_macro_daemon_name=ORIGINATING'",
        "postconf -c '/etc/postfix test' -M 'submissions/inet=submissions inet  n       -       "
        "y       -       -       smtpd -o syslog_name=postfix/submissions "
        "-o smtpd_tls_wrappermode=yes -o milter_macro_daemon_name=ORIGINATING'",
        "postconf -c '/etc/postfix test' -P cleanup/unix/milter_macro_daemon_name=ORIGINATING",
    ]
    assert postconf_commands(edit.text, STOCK) == [
        "postconf -PX cleanup/unix/milter_macro_daemon_name",
        "postconf -MX submission/inet",
        "postconf -MX submissions/inet",
    ]
    assert postconf_commands(STOCK, STOCK) == []


# --------------------------------------------------------------------------- real postconf


def _config_dir(tmp_path: Path, master_cf: str, name: str = "etc") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(FIXTURES / "main.cf", directory / "main.cf")
    (directory / "master.cf").write_text(master_cf)
    return directory


def _postconf(*args: str) -> str:
    result = subprocess.run(
        [require_binary("postconf"), *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    return result.stdout


def test_real_postconf_reads_the_edit_as_we_do(tmp_path: Path) -> None:
    edit = apply_signing_tag(STOCK, cleanup=True, main_cf=STOCK_MAIN)
    directory = _config_dir(tmp_path, edit.text)
    assert _postconf("-c", str(directory), "-M", "submission/inet").split() == [
        "submission",
        "inet",
        "n",
        "-",
        "y",
        "-",
        "-",
        "smtpd",
        "-o",
        "syslog_name=postfix/submission",
        "-o",
        "milter_macro_daemon_name=ORIGINATING",
    ]
    # Every service and every option as Postfix reads them equals our reading.
    theirs_m = [line.split() for line in _postconf("-c", str(directory), "-M").splitlines()]
    ours_m = [s.entry().split() for s in parse_master(edit.text)]
    assert theirs_m == ours_m
    theirs_p = sorted(_postconf("-c", str(directory), "-P").splitlines())
    ours_p = sorted(
        f"{s.key}/{n} = {v}" for s in parse_master(edit.text) for n, v in dict(s.options).items()
    )
    assert theirs_p == ours_p


def test_real_postconf_runs_the_snippet_commands(tmp_path: Path) -> None:
    edit = apply_signing_tag(STOCK, cleanup=True)
    ours = _config_dir(tmp_path, edit.text, "ours")
    theirs = _config_dir(tmp_path, STOCK, "theirs")
    sh = require_binary("sh")
    postconf_dir = str(Path(require_binary("postconf")).parent)
    script = "\n".join(postconf_commands(STOCK, edit.text, config_dir=str(theirs)))
    subprocess.run([sh, "-euc", script], check=True, env={"PATH": f"{postconf_dir}:/usr/bin:/bin"})
    for flag in ("-M", "-P"):
        assert sorted(_postconf("-c", str(theirs), flag).splitlines()) == sorted(
            _postconf("-c", str(ours), flag).splitlines()
        )


# --------------------------------------------------------------------------- properties

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
values = st.from_regex(r"[A-Za-z0-9_/$.:,=-]{0,12}", fullmatch=True) | st.just("a b")
column = st.sampled_from(["-", "n", "y", "0", "100", "60?"])
service_st = st.tuples(
    st.from_regex(r"[a-z][a-z0-9:.-]{0,10}", fullmatch=True),
    st.sampled_from(["inet", "unix", "fifo", "pass", "unix-dgram"]),
    st.tuples(column, column, column, column, column, st.sampled_from(["smtpd", "pipe", "smtp"])),
    st.lists(st.tuples(names, values), max_size=4),
    st.booleans(),
)
fillers = st.sampled_from(["", "# comment\n", "\n", "#x inet n - y - - smtpd\n#  -o a=b\n"])


@st.composite
def master_cf(
    draw: st.DrawFn,
) -> tuple[str, list[tuple[str, str, tuple[str, ...], list[tuple[str, str]]]]]:
    entries = draw(st.lists(service_st, max_size=6, unique_by=lambda e: (e[0], e[1])))
    out = []
    for name, type_, fields, options, folded in entries:
        out.append(draw(fillers))
        out.append(render_entry(name, type_, fields, options, folded=folded) + "\n")
    return "".join(out), [(n, t, f, o) for n, t, f, o, _ in entries]


@settings(max_examples=150, deadline=None)
@given(master_cf())
def test_render_parse_round_trip(
    case: tuple[str, list[tuple[str, str, tuple[str, ...], list[tuple[str, str]]]]],
) -> None:
    text, entries = case
    parsed = parse_master(text)
    assert [(s.name, s.type, s.fields[2:], list(s.options)) for s in parsed] == [
        (n, t, f, o) for n, t, f, o in entries
    ]
    for service in parsed:  # one-line rendering reads back the same
        (again,) = parse_master(service.entry() + "\n")
        assert again.fields == service.fields and again.options == service.options


@settings(max_examples=150, deadline=None)
@given(master_cf(), st.data())
def test_edits_are_idempotent_and_reversible(
    case: tuple[str, list[tuple[str, str, tuple[str, ...], list[tuple[str, str]]]]],
    data: st.DataObject,
) -> None:
    text, entries = case
    if not entries:
        return
    name, type_, _fields, options = data.draw(st.sampled_from(entries))
    option = data.draw(names)
    value = data.draw(values)
    once = set_service_option(text, name, type_, option, value)
    assert set_service_option(once, name, type_, option, value) == once
    entry = get_service(once, name, type_)
    assert entry is not None and entry.option(option) == value
    if option not in dict(options):
        assert remove_service_option(once, name, type_, option) == text
    # Other services are untouched.
    others = [s.entry() for s in parse_master(text) if (s.name, s.type) != (name, type_)]
    assert [s.entry() for s in parse_master(once) if (s.name, s.type) != (name, type_)] == others
    removed = remove_service_option(once, name, type_, option)
    assert get_service(removed, name, type_) is not None
    assert get_service(removed, name, type_).option(option) is None  # type: ignore[union-attr]


@settings(max_examples=100, deadline=None)
@given(master_cf(), st.sampled_from(["submission/inet", "submissions/inet"]), st.booleans())
def test_signing_tag_idempotent_and_undoable(
    case: tuple[str, list[tuple[str, str, tuple[str, ...], list[tuple[str, str]]]]],
    service: str,
    cleanup: bool,
) -> None:
    text, _entries = case
    text += STOCK if cleanup else ""
    edit = apply_signing_tag(text, services=[service], cleanup=cleanup)
    again = apply_signing_tag(
        edit.text, services=[service], cleanup=cleanup, previous=edit.ownership
    )
    assert again.text == edit.text
    assert undo(edit.text, edit.ownership) == text

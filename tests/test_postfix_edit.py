"""The Postfix backend on a host that is not empty (issue 12, items 2, 3 and 5).

main.cf: mailauth's milters are merged into the host's lists, the host's entries keep their
places, settings keep the host's values unless mailauth.yaml sets them, and taking mailauth
out gives the host's bytes back. master.cf: the submission services get the signing tag when
the signer signs tagged mail only. A root without these files is an error unless
``create: true``. The snippet script does the same merge with postconf on the host.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import require_binary

from mailauth.backends import REGISTRY, Artifact, EditContext, Edited, MissingHostFile
from mailauth.backends.postfix import PostfixTarget, edit_main_cf, edit_master_cf
from mailauth.backends.postfix_maincf import get_parameters, remove_parameters, set_parameters
from mailauth.compiler.model import MailModel, Milter

FIXTURES = Path(__file__).parent / "fixtures" / "debian"
STOCK_MAIN = (FIXTURES / "main.cf").read_text()
STOCK_MASTER = (FIXTURES / "master.cf").read_text()
SIGNING_MASTER = (FIXTURES / "master.cf.signing").read_text()
# The host: ClamAV and rspamd already filter mail, and a milter that is down defers.
HOST_MAIN = (
    STOCK_MAIN
    + "smtpd_milters = unix:/clamav/clamav-milter.ctl, inet:localhost:11332\n"
    + "non_smtpd_milters = $smtpd_milters\n"
    + "milter_default_action = tempfail\n"
)
OPENDKIM = Milter(name="opendkim", socket="inet:8891@127.0.0.1")
DKIMPY = Milter(
    name="dkimpy-milter",
    socket="inet:8892@127.0.0.1",
    inbound_daemon_name="VERIFYING",
    submission_daemon_name="ORIGINATING",
)
OPENDMARC = Milter(name="opendmarc", socket="inet:8893@127.0.0.1")
MAIN = "/etc/postfix/main.cf"
MASTER = "/etc/postfix/master.cf"


def _model(*milters: Milter) -> MailModel:
    return MailModel(zones=(), domains=(), milters=milters)


def _artifacts(model: MailModel, **settings: Any) -> dict[str, Artifact]:
    target = PostfixTarget.model_validate(settings)
    return {a.path: a for a in REGISTRY["postfix"].render(model, target)}


def _run(
    artifact: Artifact, current: str | None, state: Any = None
) -> tuple[str | None, Any, tuple[str, ...]]:
    """One plan's edit of ``artifact``; the state goes through JSON, as in the manifest."""
    from datetime import date

    ctx = EditContext(today=date(2026, 1, 18), state=state)
    edited = artifact.render_edited(None if current is None else current.encode(), ctx)
    text = None if edited.content is None else edited.content.decode()
    return text, json.loads(json.dumps(edited.state)), edited.notes


# ----------------------------------------------------------------------------- main.cf


def test_host_milters_keep_their_places_and_the_host_its_settings() -> None:
    main = _artifacts(_model(DKIMPY, OPENDMARC))[MAIN]
    text, state, notes = _run(main, HOST_MAIN)
    assert text is not None
    values = get_parameters(text)
    assert values["smtpd_milters"] == (
        "unix:/clamav/clamav-milter.ctl, inet:localhost:11332, "
        "inet:127.0.0.1:8892, inet:127.0.0.1:8893"
    )
    assert values["non_smtpd_milters"] == "$smtpd_milters"  # holds ours already
    assert values["milter_default_action"] == "tempfail"
    assert "milter_protocol" not in values
    assert values["milter_macro_daemon_name"] == "VERIFYING"
    # Only the milter line changed and one line was added: every other byte is the host's.
    assert text == set_parameters(
        HOST_MAIN,
        {"smtpd_milters": values["smtpd_milters"], "milter_macro_daemon_name": "VERIFYING"},
    )
    assert state["milters"]["entries"] == {
        "smtpd_milters": ["inet:127.0.0.1:8892", "inet:127.0.0.1:8893"]
    }
    assert state["milters"]["settings"] == {"milter_macro_daemon_name": None}
    assert any("milter_default_action = tempfail (host's value, kept)" in n for n in notes)
    assert all(n.startswith(f"{MAIN}: ") for n in notes)


def test_removing_mailauth_gives_the_hosts_bytes_back() -> None:
    text, state, _ = _run(_artifacts(_model(DKIMPY, OPENDMARC))[MAIN], HOST_MAIN)
    again, same, _ = _run(_artifacts(_model(DKIMPY, OPENDMARC))[MAIN], text, state)
    assert again == text and same == state  # apply then plan: nothing to do
    gone, record, _ = _run(_artifacts(_model())[MAIN], text, state)
    assert gone == HOST_MAIN
    assert record is None


def test_removing_one_milter_removes_only_that_entry() -> None:
    text, state, _ = _run(_artifacts(_model(OPENDKIM, OPENDMARC))[MAIN], HOST_MAIN)
    fewer, record, _ = _run(_artifacts(_model(OPENDKIM))[MAIN], text, state)
    assert fewer is not None
    assert get_parameters(fewer)["smtpd_milters"] == (
        "unix:/clamav/clamav-milter.ctl, inet:localhost:11332, inet:127.0.0.1:8891"
    )
    assert record["milters"]["entries"] == {"smtpd_milters": ["inet:127.0.0.1:8891"]}


def test_the_signer_goes_before_opendmarc_even_where_the_host_listed_opendmarc() -> None:
    host = STOCK_MAIN + "smtpd_milters = inet:127.0.0.1:8893, inet:localhost:11332\n"
    text, _, _ = _run(_artifacts(_model(OPENDKIM, OPENDMARC))[MAIN], host)
    assert text is not None
    entries = get_parameters(text)["smtpd_milters"].split(", ")
    assert entries.index("inet:127.0.0.1:8891") < entries.index("inet:127.0.0.1:8893")
    assert "inet:localhost:11332" in entries


def test_a_stock_main_cf_gets_our_lists_and_a_note_on_the_default_action() -> None:
    text, state, notes = _run(_artifacts(_model(OPENDKIM))[MAIN], STOCK_MAIN)
    assert text == STOCK_MAIN + (
        "smtpd_milters = inet:127.0.0.1:8891\nnon_smtpd_milters = inet:127.0.0.1:8891\n"
    )
    assert state["milters"]["settings"] == {"non_smtpd_milters": None, "smtpd_milters": None}
    assert notes == (
        f"{MAIN}: milter_default_action = tempfail (Postfix default): mail is deferred, not "
        "lost, while a milter is down; mailauth would use accept. Set it in mailauth.yaml to "
        "change it.",
    )
    back, _, _ = _run(_artifacts(_model())[MAIN], text, state)
    assert back == STOCK_MAIN


def test_settings_from_mailauth_yaml_replace_and_then_restore_the_hosts() -> None:
    main = _artifacts(_model(OPENDKIM), milter_default_action="accept", milter_protocol=6)[MAIN]
    text, state, notes = _run(main, HOST_MAIN)
    assert text is not None
    values = get_parameters(text)
    assert (values["milter_default_action"], values["milter_protocol"]) == ("accept", "6")
    assert (
        f"{MAIN}: milter_default_action: mailauth.yaml sets accept, replacing the host's tempfail"
        in notes
    )
    assert state["milters"]["settings"] == {
        "milter_default_action": "tempfail",
        "milter_protocol": None,
    }
    back, _, _ = _run(_artifacts(_model(OPENDKIM))[MAIN], text, state)
    assert back is not None
    values = get_parameters(back)
    assert values["milter_default_action"] == "tempfail"
    assert "milter_protocol" not in values


def test_parameters_come_back_when_dropped_from_mailauth_yaml() -> None:
    main = _artifacts(_model(OPENDKIM), parameters={"myhostname": "mail.example.org"})[MAIN]
    text, state, _ = _run(main, HOST_MAIN)
    assert text is not None and get_parameters(text)["myhostname"] == "mail.example.org"
    back, _, _ = _run(_artifacts(_model(OPENDKIM))[MAIN], text, state)
    assert back is not None and get_parameters(back)["myhostname"] == "vm"


@pytest.mark.parametrize("name", ["smtpd_milters", "non_smtpd_milters"])
def test_milter_lists_under_parameters_are_refused_with_the_merge_explained(name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name}: mailauth merges its own milters into the"):
        PostfixTarget.model_validate({"parameters": {name: "inet:127.0.0.1:1"}})
    with pytest.raises(ValueError, match=r"set it as targets.postfix.milter_protocol"):
        PostfixTarget.model_validate({"parameters": {"milter_protocol": "6"}})


def test_a_missing_main_cf_is_an_error_unless_create() -> None:
    with pytest.raises(MissingHostFile) as caught:
        _run(_artifacts(_model(OPENDKIM))[MAIN], None)
    assert caught.value.path == MAIN
    assert caught.value.hint == "or set targets.postfix.create: true"
    text, _, _ = _run(_artifacts(_model(OPENDKIM), create=True)[MAIN], None)
    assert text is not None and get_parameters(text)["smtpd_milters"] == "inet:127.0.0.1:8891"


def test_remove_parameters_gives_appended_lines_back() -> None:
    added = set_parameters(STOCK_MAIN, {"a": "1", "long_list": " ".join(["x" * 30] * 4)})
    assert remove_parameters(added, ["a", "long_list"]) == STOCK_MAIN
    assert remove_parameters(STOCK_MAIN, ["nothing"]) is STOCK_MAIN


# ----------------------------------------------------------------------------- master.cf


def test_master_cf_gets_the_tag_on_debian_stock() -> None:
    master = _artifacts(_model(DKIMPY, OPENDMARC))[MASTER]
    text, state, notes = _run(master, STOCK_MASTER)
    cleanup = "0       cleanup\n  -o milter_macro_daemon_name=ORIGINATING\n"
    assert text == SIGNING_MASTER.replace(cleanup, "0       cleanup\n")
    assert state["created"] == ["submission/inet", "submissions/inet"]
    assert f"{MASTER}: created submission/inet (port 587) from Debian's standard line" in notes
    again, same, notes_again = _run(master, text, state)
    assert again == text and same == state
    assert not [n for n in notes_again if "created" in n]
    # The signer changes to OpenDKIM (no tag): master.cf goes back to the package's bytes.
    back, record, _ = _run(_artifacts(_model(OPENDKIM))[MASTER], text, state)
    assert back == STOCK_MASTER and record is None


def test_master_cf_options_services_and_local_mail() -> None:
    master = _artifacts(
        _model(DKIMPY), submission_services=["submission/inet"], sign_local_mail=True
    )[MASTER]
    text, _, _ = _run(master, STOCK_MASTER)
    assert text is not None
    assert "\nsubmissions inet" not in text
    assert "cleanup   unix  n       -       y       -       0       cleanup\n" in text
    assert text.count("\n  -o milter_macro_daemon_name=ORIGINATING") == 2
    with pytest.raises(ValueError, match="submission_services"):
        PostfixTarget.model_validate({"submission_services": ["submission"]})


def test_master_cf_is_never_invented_but_left_alone_when_not_needed() -> None:
    with pytest.raises(MissingHostFile) as caught:
        _run(_artifacts(_model(DKIMPY))[MASTER], None)
    assert caught.value.path == MASTER
    assert _run(_artifacts(_model(OPENDKIM))[MASTER], None) == (None, None, ())
    untouched, _, _ = _run(_artifacts(_model(OPENDKIM))[MASTER], STOCK_MASTER)
    assert untouched == STOCK_MASTER
    text, _, _ = _run(_artifacts(_model(DKIMPY), create=True)[MASTER], None)
    assert text is not None and text.startswith("submission inet")


def test_edit_functions_are_the_backend_functions() -> None:
    # The backend's artifacts are thin closures around these two pure functions.
    target = PostfixTarget()
    edited = edit_master_cf(None, None, path=MASTER, tag=None, target=target, main_cf=None)
    assert edited == Edited(None)
    with pytest.raises(MissingHostFile):
        edit_main_cf(None, None, path=MAIN, entries=[], settings={}, create=False)


# ----------------------------------------------------------------------------- snippet mode


def _postconf(directory: Path, *args: str) -> str:
    done = subprocess.run(
        [require_binary("postconf"), "-c", str(directory), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_snippet_script_merges_on_the_host(tmp_path: Path) -> None:
    etc = tmp_path / "postfix"
    etc.mkdir()
    (etc / "main.cf").write_text(HOST_MAIN)
    shutil.copy(FIXTURES / "master.cf", etc / "master.cf")
    target = {
        "mode": "snippet",
        "main_cf": str(etc / "main.cf"),
        "script_file": "/etc/postfix/mailauth-postconf.sh",
    }
    arts = _artifacts(_model(DKIMPY, OPENDMARC), **target)
    script = arts["/etc/postfix/mailauth-postconf.sh"].content.decode()
    snippet = arts["/etc/postfix/mailauth-main.cf"].content.decode()
    assert "#   inet:127.0.0.1:8892" in snippet and "smtpd_milters =" not in snippet
    path = tmp_path / "script.sh"
    path.write_text(script)
    for _ in range(2):  # twice: the second run changes nothing
        subprocess.run(["sh", str(path)], check=True, capture_output=True)
        assert _postconf(etc, "-h", "smtpd_milters").strip() == (
            "unix:/clamav/clamav-milter.ctl, inet:localhost:11332, "
            "inet:127.0.0.1:8892, inet:127.0.0.1:8893"
        )
        assert _postconf(etc, "-h", "non_smtpd_milters").strip() == "$smtpd_milters"
        assert _postconf(etc, "-h", "milter_default_action").strip() == "tempfail"
        submission = _postconf(etc, "-M", "submission/inet")
        assert "-o milter_macro_daemon_name=ORIGINATING" in submission
        assert submission.count("milter_macro_daemon_name") == 1
    assert "-o milter_macro_daemon_name=ORIGINATING" in _postconf(etc, "-M", "submissions/inet")

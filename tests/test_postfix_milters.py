"""Merging mailauth's milters into a host's milter lists (issue 12, main.cf merge)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import require_binary

from mailauth.backends.postfix_maincf import get_parameters, set_parameters
from mailauth.backends.postfix_milters import (
    MilterOwnership,
    decide_setting,
    merge,
    parse_milters,
    plan_milters,
)

CLAMAV = "unix:/clamav/clamav-milter.ctl"
RSPAMD = "inet:localhost:11332"
SIGNER = "inet:localhost:8891"
DMARC = "inet:localhost:8893"
DEBIAN_MAIN_CF = Path(__file__).parent / "fixtures" / "debian" / "main.cf"

HOST_MAIN_CF = (
    DEBIAN_MAIN_CF.read_text()
    + f"smtpd_milters = {CLAMAV}, {RSPAMD}\nmilter_default_action = tempfail\n"
)


def addresses(value: str) -> list[str]:
    return [e.address or f"${e.reference}" for e in parse_milters(value)]


# --------------------------------------------------------------------------- parsing


def test_parse_commas_spaces_groups_and_references() -> None:
    value = (
        "unix:/a.sock,inet:127.0.0.1:1  { inet:h:2, connect_timeout=10s, "
        "default_action=accept }\t$smtpd_milters ${other} $(third)"
    )
    entries = parse_milters(value)
    assert [e.address for e in entries] == [
        "unix:/a.sock",
        "inet:127.0.0.1:1",
        "inet:h:2",
        "",
        "",
        "",
    ]
    assert entries[2].text == "{ inet:h:2, connect_timeout=10s, default_action=accept }"
    assert [e.reference for e in entries[3:]] == ["smtpd_milters", "other", "third"]


@pytest.mark.parametrize("bad", ["{ inet:a:1", "inet:a:1 }", "{ connect_timeout=1s }", "{}x"])
def test_parse_refuses_broken_groups(bad: str) -> None:
    with pytest.raises(ValueError, match="milter list"):
        parse_milters(bad)


# --------------------------------------------------------------------------- merge


def test_issue_example_ours_added_theirs_kept_in_place() -> None:
    host = f"{CLAMAV}, {RSPAMD}"
    merged = merge(host, [], [SIGNER, DMARC])
    assert addresses(merged) == [CLAMAV, RSPAMD, SIGNER, DMARC]
    assert merge(merged, [SIGNER, DMARC], [SIGNER, DMARC]) == merged  # idempotent
    assert merge(merged, [SIGNER, DMARC], []) == host  # removal: exactly theirs, same text


def test_removing_one_milter_removes_only_that_one() -> None:
    value = f"{CLAMAV}, {SIGNER}, {RSPAMD}, {DMARC}"
    assert merge(value, [SIGNER, DMARC], [SIGNER]) == f"{CLAMAV}, {SIGNER}, {RSPAMD}"


def test_ours_go_where_ours_were() -> None:
    # The admin moved our signer in front of rspamd; a new signer address replaces it there.
    value = f"{CLAMAV}, {SIGNER}, {RSPAMD}"
    new_signer = "unix:/dkimpy-milter/dkimpy-milter.sock"
    merged = merge(value, [SIGNER], [new_signer, DMARC])
    assert addresses(merged) == [CLAMAV, new_signer, DMARC, RSPAMD]


def test_signer_goes_before_opendmarc_even_when_added_later() -> None:
    value = f"{CLAMAV}, {DMARC}"
    assert addresses(merge(value, [DMARC], [SIGNER, DMARC])) == [CLAMAV, SIGNER, DMARC]


def test_ours_out_of_order_are_reordered_where_the_first_stood() -> None:
    value = f"{DMARC}, {CLAMAV}, {SIGNER}"
    assert addresses(merge(value, [SIGNER, DMARC], [SIGNER, DMARC])) == [
        SIGNER,
        DMARC,
        CLAMAV,
    ]


def test_host_listed_milter_of_ours_is_not_duplicated() -> None:
    value = f"{{ {SIGNER}, connect_timeout=10s }}, {RSPAMD}"
    merged = merge(value, [], [SIGNER, DMARC])
    assert merged == f"{{ {SIGNER}, connect_timeout=10s }}, {DMARC}, {RSPAMD}"


def test_reference_to_smtpd_milters_is_kept_and_not_duplicated() -> None:
    assert merge("$smtpd_milters", [], [SIGNER], covered_by=["smtpd_milters"]) == "$smtpd_milters"
    assert merge("${smtpd_milters}", [SIGNER], [SIGNER], covered_by=["smtpd_milters"]) == (
        "${smtpd_milters}"
    )
    # Without the idiom the reference is just another host entry.
    assert merge("$other", [], [SIGNER]) == f"$other, {SIGNER}"


def test_whitespace_separated_lists_keep_their_style() -> None:
    assert merge(f"{CLAMAV} {RSPAMD}", [], [SIGNER]) == f"{CLAMAV} {RSPAMD} {SIGNER}"
    assert merge("", [], [SIGNER, DMARC]) == f"{SIGNER}, {DMARC}"


def test_unchanged_value_is_the_same_string() -> None:
    odd = f"  {CLAMAV} ,\t{SIGNER}  "
    assert merge(odd, [SIGNER], [SIGNER]) is odd


# --------------------------------------------------------------------------- settings


def test_host_setting_is_kept_with_a_note() -> None:
    decision = decide_setting("milter_default_action", "tempfail", None)
    assert decision.value is None
    assert decision.note is not None
    assert "tempfail" in decision.note and "kept" in decision.note and "accept" in decision.note


def test_postfix_default_is_noted_when_host_sets_nothing() -> None:
    decision = decide_setting("milter_default_action", None, None)
    assert decision.value is None
    assert decision.note is not None and "Postfix default" in decision.note


def test_configured_setting_wins_and_says_what_it_replaces() -> None:
    decision = decide_setting("milter_default_action", "tempfail", "accept")
    assert decision.value == "accept"
    assert decision.note == (
        "milter_default_action: mailauth.yaml sets accept, replacing the host's tempfail"
    )
    assert decide_setting("milter_protocol", "6", None).note is None
    assert decide_setting("milter_protocol", "6", "6").note is None


# --------------------------------------------------------------------------- plan on main.cf


def apply_plan(text: str, previous: MilterOwnership | None, **kwargs: object) -> tuple[str, object]:
    plan = plan_milters(get_parameters(text), previous, **kwargs)  # type: ignore[arg-type]
    out = set_parameters(text, plan.set)
    for name in plan.delete:  # what postfix_maincf.remove_parameters will do
        out = "".join(
            line for line in out.splitlines(keepends=True) if not line.startswith(f"{name} =")
        )
    return out, plan


def test_plan_on_stock_debian_main_cf_with_third_party_milters() -> None:
    text, plan = apply_plan(HOST_MAIN_CF, None, smtpd=[SIGNER, DMARC], non_smtpd=[SIGNER])
    values = get_parameters(text)
    assert values["smtpd_milters"] == f"{CLAMAV}, {RSPAMD}, {SIGNER}, {DMARC}"
    assert values["non_smtpd_milters"] == SIGNER
    assert values["milter_default_action"] == "tempfail"  # the host's
    ownership = plan.ownership  # type: ignore[attr-defined]
    assert ownership.entries == {
        "smtpd_milters": (SIGNER, DMARC),
        "non_smtpd_milters": (SIGNER,),
    }
    assert ownership.settings == {"non_smtpd_milters": None}
    assert any("tempfail" in n for n in plan.notes)  # type: ignore[attr-defined]

    # The manifest round-trips through JSON; a second run changes nothing.
    again = MilterOwnership.from_json(ownership.to_json())
    assert again == ownership
    text2, plan2 = apply_plan(text, again, smtpd=[SIGNER, DMARC], non_smtpd=[SIGNER])
    assert text2 == text
    assert plan2.ownership == ownership  # type: ignore[attr-defined]

    # Removing mailauth gives back the host's main.cf byte for byte.
    removed, plan3 = apply_plan(text, again, smtpd=[], non_smtpd=[])
    assert removed == HOST_MAIN_CF
    assert plan3.ownership == MilterOwnership()  # type: ignore[attr-defined]


def test_plan_keeps_the_smtpd_milters_idiom() -> None:
    host = HOST_MAIN_CF + "non_smtpd_milters = $smtpd_milters\n"
    text, plan = apply_plan(host, None, smtpd=[SIGNER], non_smtpd=[SIGNER])
    assert get_parameters(text)["non_smtpd_milters"] == "$smtpd_milters"
    assert "non_smtpd_milters" not in plan.ownership.entries  # type: ignore[attr-defined]


def test_configured_setting_is_restored_when_no_longer_configured() -> None:
    settings = {"milter_default_action": "accept", "milter_protocol": None}
    text, plan = apply_plan(HOST_MAIN_CF, None, smtpd=[SIGNER], non_smtpd=[], settings=settings)
    assert get_parameters(text)["milter_default_action"] == "accept"
    owned = MilterOwnership.from_json(plan.ownership.to_json())  # type: ignore[attr-defined]
    assert owned.settings["milter_default_action"] == "tempfail"
    back, _plan = apply_plan(text, owned, smtpd=[], non_smtpd=[])
    assert back == HOST_MAIN_CF


def test_setting_introduced_by_mailauth_is_deleted_on_removal() -> None:
    base = DEBIAN_MAIN_CF.read_text()
    settings = {"milter_protocol": "6", "milter_macro_daemon_name": "VERIFYING"}
    text, plan = apply_plan(base, None, smtpd=[SIGNER], non_smtpd=[SIGNER], settings=settings)
    values = get_parameters(text)
    assert values["milter_macro_daemon_name"] == "VERIFYING"
    owned = plan.ownership  # type: ignore[attr-defined]
    back, plan2 = apply_plan(text, owned, smtpd=[], non_smtpd=[])
    assert sorted(plan2.delete) == [  # type: ignore[attr-defined]
        "milter_macro_daemon_name",
        "milter_protocol",
        "non_smtpd_milters",
        "smtpd_milters",
    ]
    assert back == base


@pytest.mark.parametrize("bad", [[], "x", {"entries": {"smtpd_milters": [1]}}, {"settings": []}])
def test_damaged_manifest_is_an_error(bad: object) -> None:
    with pytest.raises(ValueError, match="manifest"):
        MilterOwnership.from_json(bad)


def test_postfix_reads_the_merged_list_as_we_do(tmp_path: Path) -> None:
    postconf = require_binary("postconf")
    text, _plan = apply_plan(HOST_MAIN_CF, None, smtpd=[SIGNER, DMARC], non_smtpd=[SIGNER])
    text = set_parameters(
        text, {"smtpd_milters": f"{{ {CLAMAV}, connect_timeout=10s }}, {RSPAMD}, {SIGNER}"}
    )
    (tmp_path / "main.cf").write_text(text)
    (tmp_path / "master.cf").write_text("")
    out = subprocess.run(
        [postconf, "-c", str(tmp_path), "-h", "smtpd_milters"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert addresses(out) == [CLAMAV, RSPAMD, SIGNER]


# --------------------------------------------------------------------------- properties

socket = st.builds(
    lambda kind, n: f"{kind}:{n}",
    st.sampled_from(["inet:localhost", "unix:/run/m", "inet:[::1]"]),
    st.integers(1, 40),
)
group = socket.map(lambda s: f"{{ {s}, connect_timeout=5s }}")
host_entry = st.one_of(socket, group, st.just("$other_milters"))
separator = st.sampled_from([", ", " ", ",", " ,\t", "\n "])


@st.composite
def scenario(draw: st.DrawFn) -> tuple[str, list[str], list[str], list[str]]:
    host = draw(st.lists(host_entry, max_size=6))
    before = draw(st.lists(socket, max_size=3, unique=True))
    now = draw(st.lists(socket, max_size=3, unique=True))
    sep = draw(separator)
    addrs_host = {parse_milters(h)[0].address for h in host}
    before = [b for b in before if b not in addrs_host]
    # The value as the last apply left it: host entries with ours spliced in.
    value_entries = list(host)
    for b in before:
        value_entries.insert(draw(st.integers(0, len(value_entries))), b)
    return sep.join(value_entries), before, now, host


@given(scenario())
def test_merge_properties(case: tuple[str, list[str], list[str], list[str]]) -> None:
    value, before, now, host = case
    merged = merge(value, before, now)
    entries = parse_milters(merged)
    texts = [e.text for e in entries]
    # The host's entries all survive, in their order.
    assert [t for t in texts if t in host] == [h for h in host if h in texts]
    assert sorted(t for t in texts if t in host) == sorted(host)
    # Every wanted milter is there exactly once (by address), ours in the wanted order.
    got = [e.address for e in entries if e.address]
    for address in now:
        assert got.count(address) >= 1
    ours = [a for a in got if a in now and a not in [parse_milters(h)[0].address for h in host]]
    assert ours == [a for a in now if a in ours]
    # Nothing of ours that is no longer wanted remains.
    assert not [a for a in got if a in before and a not in now]
    # Idempotent, and removing everything gives back the host's entries. What mailauth
    # claims is what it added: never an address the host listed itself.
    claimed = [a for a in now if a not in {parse_milters(h)[0].address for h in host}]
    assert merge(merged, claimed, now) == merged
    assert [e.text for e in parse_milters(merge(merged, claimed, []))] == host

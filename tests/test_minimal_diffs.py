"""Minimal diffs (issue 14, item 4): a change to mailauth.yaml changes only its own lines.

Adding a record changes the lines of that record and the SOA serial, nothing else: the
columns of a zone file, a fragment and a ``Key  Value`` config do not depend on the longest
name in the file, so a new long owner name or option never re-pads the lines already there.
The tables (KeyTable, SigningTable, TrustedHosts) separate their fields with one space, and
a hand-kept zone is only ever touched at its serial.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailauth.backends.bind import render_fragment, render_zone
from mailauth.backends.templating import key_value_lines
from mailauth.compiler import driver
from mailauth.compiler.model import Record, SoaModel, ZoneModel
from mailauth.compiler.plan import FileChange, Plan
from mailauth.compiler.report import dns_changes

DAY = date(2026, 1, 18)
FIRST = datetime(2026, 1, 18, 9, 0, 0, tzinfo=UTC)
SERIAL = "2026011801"


# --- helpers ---------------------------------------------------------------------------------


def removed_and_added(old: str, new: str) -> tuple[list[str], list[str]]:
    """The lines a unified diff from ``old`` to ``new`` removes and adds."""
    removed: list[str] = []
    added: list[str] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


def zone_of(records: tuple[Record, ...], mode: str = "zone") -> ZoneModel:
    return ZoneModel(
        name="example.org",
        mode="zone" if mode == "zone" else "include",
        ttl=3600,
        soa=SoaModel("ns1.example.org.", "hostmaster.example.org.", 10800, 600, 1814400, 300),
        records=records,
    )


BASE = (
    Record("@", "NS", "ns1.example.org.", 3600, "ns"),
    Record("@", "MX", "10 mail.example.org.", 3600, "mx"),
    Record("mail", "A", "192.0.2.25", 3600, "host"),
    Record("@", "TXT", "v=spf1 mx -all", 3600, "spf"),
    Record("01._domainkey", "TXT", "v=DKIM1; k=rsa; p=" + "A" * 300, 3600, "dkim"),
    Record("_dmarc", "TXT", "v=DMARC1; p=none", 3600, "dmarc"),
    Record("www", "CNAME", "example.org.", 3600, "extra"),
    Record("ns1", "A", "192.0.2.53", 7200, "extra"),
)

label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=63).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
owner = st.lists(label, min_size=1, max_size=4).map(".".join).filter(lambda s: len(s) <= 200)


# --- zone files ------------------------------------------------------------------------------


def test_a_longer_owner_changes_only_its_own_line() -> None:
    """The case of the issue: one record with a long owner name is added to a zone."""
    new = Record("a-much-longer-owner-name-than-any-before._tcp", "TXT", "x", 3600, "extra")
    before = render_zone(zone_of(BASE), serial=SERIAL)
    after = render_zone(zone_of((*BASE, new)), serial=SERIAL)
    removed, added = removed_and_added(before, after)
    assert removed == []
    assert len(added) == 1 and added[0].startswith(new.name + " ")


@settings(max_examples=150, deadline=None)
@given(
    name=owner,
    rtype=st.sampled_from(["TXT", "A", "CNAME"]),
    ttl=st.sampled_from([3600, 60, 86400, 2147483647]),
    at=st.integers(min_value=0, max_value=len(BASE)),
    absolute=st.booleans(),
)
def test_any_added_record_adds_only_its_own_lines(
    name: str, rtype: str, ttl: int, at: int, absolute: bool
) -> None:
    """Whatever its owner, TTL and place: the diff is the new record's lines, added."""
    value = {"TXT": "v=x " + "y" * 400, "A": "192.0.2.1", "CNAME": "example.org."}[rtype]
    new = Record(name, rtype, value, ttl, "extra")
    records = (*BASE[:at], new, *BASE[at:])
    if absolute:
        before = render_fragment(zone_of(BASE, "include"))
        after = render_fragment(zone_of(records, "include"))
        only_new = render_fragment(zone_of((new,), "include"))
    else:
        before = render_zone(zone_of(BASE), serial=SERIAL)
        after = render_zone(zone_of(records), serial=SERIAL)
        only_new = render_zone(zone_of((new,)), serial=SERIAL)
    removed, added = removed_and_added(before, after)
    assert removed == []
    # The new record's lines exactly as a zone holding only it would write them.
    new_lines = only_new.splitlines()
    start = new_lines.index("; other records") + 1
    assert added == new_lines[start:]


def test_zone_columns_stay_readable_and_long_owners_keep_a_separator() -> None:
    text = render_zone(zone_of(BASE), serial=SERIAL)
    assert "\nmail                            IN A     192.0.2.25\n" in text
    assert "\nns1                        7200 IN A     192.0.2.53\n" in text
    long = "x" * 60
    text = render_zone(zone_of((Record(long, "A", "192.0.2.1", 60, "extra"),)), serial=SERIAL)
    assert f"\n{long}     60 IN A     192.0.2.1\n" in text


# --- Key  Value configs ----------------------------------------------------------------------

ROWS: list[tuple[str, str | int] | None] = [
    ("Syslog", "yes"),
    ("UMask", "007"),
    ("Socket", "inet:8891@127.0.0.1"),
    ("Canonicalization", "relaxed/simple"),
]


def test_a_longer_option_changes_only_its_own_line() -> None:
    """An option longer than every other (an extra option, MultipleSignatures...) is one
    added line: the values of the other lines stay in their column."""
    before = key_value_lines(ROWS)
    after = key_value_lines([*ROWS, ("MaximumSignaturesToVerify", 3)])
    removed, added = removed_and_added(before, after)
    assert removed == []
    assert added == ["MaximumSignaturesToVerify  3"]


@settings(max_examples=150, deadline=None)
@given(
    key=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1),
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/:.@", min_size=1),
    at=st.integers(min_value=0, max_value=len(ROWS)),
)
def test_any_added_option_adds_only_its_own_line(key: str, value: str, at: int) -> None:
    before = key_value_lines(ROWS)
    after = key_value_lines([*ROWS[:at], (key, value), *ROWS[at:]])
    removed, added = removed_and_added(before, after)
    assert removed == []
    assert added == [key_value_lines([(key, value)])]
    name, _, rest = added[0].partition(" ")
    assert name == key and rest.strip() == value, "the key and value stay apart"


# --- the whole pipeline ----------------------------------------------------------------------


def plan_at(config: Path, root: Path) -> Plan:
    return driver.plan(driver.open_job(config, root, None), today=DAY)


def applied_slackbox(config: Path, root: Path) -> None:
    job = driver.open_job(config, root, None)
    assert driver.apply(job, lambda _plan: True, now=FIRST) is not None
    assert not plan_at(config, root).pending


def diff_of(change: FileChange) -> tuple[list[str], list[str]]:
    old = (change.old or b"").decode()
    new = (change.new or b"").decode()
    return removed_and_added(old, new)


def test_a_record_with_a_long_owner_changes_its_line_and_the_serial(
    slackbox_config: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    applied_slackbox(slackbox_config, root)
    text = slackbox_config.read_text()
    anchor = "      - {name: www, type: CNAME, value: slackbox.fr.}\n"
    assert text.count(anchor) == 1, "the example's records moved; update this test"
    owner_name = "_a-very-long-service-name-for-a-new-record._tcp"
    new = f'      - {{name: {owner_name}, type: TXT, value: "hello"}}\n'
    slackbox_config.write_text(text.replace(anchor, anchor + new))

    plan = plan_at(slackbox_config, root)
    assert [c.path for c in plan.pending] == ["/var/named/zone.slackbox.fr"]
    removed, added = diff_of(plan.pending[0])
    assert removed == [f"        {SERIAL} ; serial"]
    assert added[0] == "        2026011802 ; serial"
    assert len(added) == 2 and added[1].startswith(owner_name + " ")
    assert added[1].endswith('IN TXT   "hello"')


def test_a_long_selector_adds_table_lines_and_removes_none(
    slackbox_config: Path, tmp_path: Path
) -> None:
    """A second, much longer selector for every domain: the tables, opendkim.conf (which
    gains MultipleSignatures) and the zones only gain lines, but for the serial."""
    root = tmp_path / "root"
    applied_slackbox(slackbox_config, root)
    text = slackbox_config.read_text()
    anchor = '      - name: "01"       # quote it: YAML reads 01 as the number 1\n'
    assert text.count(anchor) == 1, "the example's selectors moved; update this test"
    selector = "rotation-2026-north-datacentre"
    added_selector = f"      - name: {selector}\n        algorithm: rsa\n        bits: 2048\n"
    slackbox_config.write_text(text.replace(anchor, added_selector + anchor))

    plan = plan_at(slackbox_config, root)
    keys = [c.path for c in plan.pending if c.path.startswith("/etc/opendkim/keys/")]
    assert len(keys) == 2 and all(c.op == "create" for c in plan.pending if c.path in keys)
    changed = {c.path: diff_of(c) for c in plan.pending if c.path not in keys}
    for table in ("KeyTable", "SigningTable"):
        removed, added = changed.pop(f"/etc/opendkim/{table}")
        assert removed == [], table
        assert len(added) == 2 and all(selector in line for line in added), table
    removed, added = changed.pop("/etc/opendkim.conf")
    assert (removed, added) == ([], ["MultipleSignatures  yes"])
    (lock,) = [path for path in changed if path.endswith("mailauth.lock")]
    removed, added = changed.pop(lock)
    assert removed == [] and sum(selector in line for line in added) == 2
    assert changed, "the zones publish the new keys"
    for path, (removed, added) in changed.items():
        assert path.startswith("/var/named/zone."), path
        assert removed == [f"        {SERIAL} ; serial"], path
        assert added[0] == "        2026011802 ; serial", path
        assert added[1].startswith(f"{selector}._domainkey "), path


@pytest.mark.parametrize("serial", ["2026011801", "99"])
def test_a_handkept_zone_changes_only_at_its_serial(tmp_path: Path, serial: str) -> None:
    """Include mode: the admin's zone is written back byte for byte but for the serial, even
    when a counter grows a digit."""
    golden = Path(__file__).parent / "golden" / "include-mode"
    config = tmp_path / "mailauth.yaml"
    config.write_text((golden / "mailauth.yaml").read_text())
    root = tmp_path / "root"
    hand = golden / "before" / "var/named/db.example.org"
    zone = root / "var/named/db.example.org"
    zone.parent.mkdir(parents=True)
    text = hand.read_text()
    old_serial = next(line for line in text.splitlines() if "; serial" in line.lower())
    digits = "".join(c for c in old_serial if c.isdigit())
    zone.write_text(text.replace(digits, serial, 1))
    plan = plan_at(config, root)
    (change,) = [c for c in plan.pending if c.path == "/var/named/db.example.org"]
    removed, added = diff_of(change)
    assert len(removed) == 1 and serial in removed[0]
    assert added == [removed[0].replace(serial, "100" if serial == "99" else "2026011802")]


def test_the_one_time_relayout_of_an_older_zone_changes_no_record(
    slackbox_config: Path, tmp_path: Path
) -> None:
    """A zone laid out otherwise (by an older mailauth) is re-laid out once: whitespace
    and the serial, no other DNS change, and the plan after that apply is empty."""
    root = tmp_path / "root"
    applied_slackbox(slackbox_config, root)
    zone = root / "var/named/zone.slackbox.fr"
    zone.write_text(re.sub(r"(?<=\S)  +", " ", zone.read_text()))
    plan = plan_at(slackbox_config, root)
    assert [c.path for c in plan.pending] == ["/var/named/zone.slackbox.fr"]
    assert [c.type for c in dns_changes(plan)] == ["SOA"], "the serial, no other record"
    removed, added = diff_of(plan.pending[0])
    assert [" ".join(line.split()) for line in removed if "; serial" not in line] == [
        " ".join(line.split()) for line in added if "; serial" not in line
    ]
    job = driver.open_job(slackbox_config, root, None)
    assert driver.apply(job, lambda _plan: True, now=FIRST) is not None
    assert not plan_at(slackbox_config, root).pending

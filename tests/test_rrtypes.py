"""The record-type table (schema/rrtypes.py): every value survives the trip from zone-file
text to octodns's fields and back, for every type octodns carries, checked with hypothesis;
and the plan's report reads both targets' files through it.

The zone-file side is dnspython's reading of the text (as named and the plan's report read
it); the octodns side is what the YamlProvider files hold.
"""

from __future__ import annotations

import string
from pathlib import Path

import dns.name
import dns.rdata
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailauth.backends.base import Artifact
from mailauth.backends.bind import render_zone
from mailauth.backends.octodns import render_zone_file
from mailauth.backends.zonefile import txt_rdata
from mailauth.compiler.model import Record, SoaModel, ZoneModel
from mailauth.compiler.plan import FileChange, Plan
from mailauth.compiler.report import dns_changes
from mailauth.schema import rrtypes

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
names = st.lists(labels, min_size=1, max_size=4).map(lambda parts: ".".join(parts) + ".")
u8 = st.integers(0, 255)
u16 = st.integers(0, 65535)
octets = st.binary(min_size=1, max_size=300)  # past 64 octets dnspython splits the hex


def hashed(lengths: dict[int, int]) -> st.SearchStrategy[tuple[int, bytes]]:
    """A digest type and data of the length dnspython requires for it (any for others)."""

    def data(kind: int) -> st.SearchStrategy[tuple[int, bytes]]:
        size = lengths.get(kind)
        found = octets if size is None else st.binary(min_size=size, max_size=size)
        return st.tuples(st.just(kind), found)

    return st.one_of(st.sampled_from(sorted(lengths)), u8).flatmap(data)


def _caa(flags: int, tag: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{flags} {tag} "{escaped}"'


# One strategy per type octodns carries (TXT apart: its value is the text itself), as
# zone-file data.
VALUES: dict[str, st.SearchStrategy[str]] = {
    "A": st.ip_addresses(v=4).map(str),
    "AAAA": st.ip_addresses(v=6).map(str),
    "CNAME": names,
    "NS": names,
    "PTR": names,
    "MX": st.builds(lambda p, n: f"{p} {n}", u16, names),
    "SRV": st.builds(lambda p, w, o, n: f"{p} {w} {o} {n}", u16, u16, u16, names),
    "CAA": st.builds(
        _caa,
        u8,
        st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=15),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    ),
    "TLSA": st.builds(
        lambda u, s, mc: f"{u} {s} {mc[0]} {mc[1].hex()}", u8, u8, hashed({1: 32, 2: 64})
    ),
    "SSHFP": st.builds(lambda a, tf: f"{a} {tf[0]} {tf[1].hex()}", u8, hashed({1: 20, 2: 32})),
}

# Text octodns's TXT notation carries (rrtypes.escape_txt refuses the rest).
octodns_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=600
).filter(lambda t: not t.startswith('"') and '" "' not in t and "\\;" not in t)


def canonical(rtype: str, text: str) -> str:
    """The data as a zone file reader (dnspython) reads and writes it back."""
    rdata = dns.rdata.from_text("IN", rtype, text, origin=dns.name.root, relativize=False)
    return str(rdata.to_text())


def test_every_octodns_type_has_a_strategy() -> None:
    """A type added to the table with an octodns layout must be added here too."""
    assert set(VALUES) | {"TXT"} == rrtypes.OCTODNS_TYPES


@pytest.mark.parametrize("rtype", sorted(VALUES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_value_round_trips_zone_text_to_octodns_and_back(rtype: str, data: st.DataObject) -> None:
    zone_text = canonical(rtype, data.draw(VALUES[rtype]))
    value = rrtypes.to_octodns(rtype, zone_text)
    assert value is not None
    layout = rrtypes.TYPES[rtype]
    if layout.fields:
        assert isinstance(value, dict)
        assert list(value) == [f.key for f in layout.fields]
    else:
        assert isinstance(value, str)
    back = rrtypes.from_octodns(rtype, value)
    assert canonical(rtype, back) == zone_text


@settings(max_examples=100, deadline=None)
@given(octodns_text)
def test_txt_round_trips_zone_text_to_octodns_and_back(text: str) -> None:
    """TXT: the quoted, split zone-file strings carry the text; octodns carries it whole."""
    rdata = dns.rdata.from_text("IN", "TXT", " ".join(txt_rdata(text)))
    read = b"".join(rdata.strings).decode("ascii")  # type: ignore[attr-defined]  # TXT's own
    value = rrtypes.to_octodns("TXT", read)
    assert isinstance(value, str) and ";" not in value.replace("\\;", "")
    assert rrtypes.from_octodns("TXT", value) == text


def test_octodns_refuses_what_it_cannot_carry() -> None:
    assert rrtypes.to_octodns("SOA", "a. b. 1 2 3 4 5") is None
    with pytest.raises(ValueError, match="expected its fields"):
        rrtypes.from_octodns("MX", {"preference": 10})
    with pytest.raises(ValueError, match="not a type mailauth knows"):
        rrtypes.from_octodns("DS", "1 2 3 abcd")


def test_table_answers() -> None:
    assert rrtypes.EXTRA_TYPES[:5] == ("A", "AAAA", "CNAME", "MX", "TXT")
    assert "SOA" not in rrtypes.EXTRA_TYPES and "SOA" not in rrtypes.OCTODNS_TYPES
    order = sorted(("TXT", "A", "MX", "NS", "SOA", "SRV"), key=rrtypes.sort_order)
    assert order == ["SOA", "NS", "MX", "A", "TXT", "SRV"]
    assert rrtypes.nameless("CAA") and not rrtypes.nameless("MX") and not rrtypes.nameless("X")
    assert rrtypes.absolute("MX", "10 mx.example.") is True
    assert rrtypes.absolute("MX", "10 mx") is False
    assert rrtypes.absolute("HINFO", "a b") is None
    assert rrtypes.check_value("MX", "10 mx", "example.org") == ("10 mx.example.org.", None)
    assert rrtypes.check_value("A", "1.2.3.4 ; x", ".")[1] is not None


def test_report_reads_both_targets_through_the_table() -> None:
    """The plan's report knows each file from its artifact (format, zone), and reads BIND's
    and octodns's values through dnspython alike: a long TLSA (which dnspython writes in
    chunks) is one change naming both files, not two that differ in spacing."""
    cert = "ab" * 200
    zone = ZoneModel(
        name="example.org",
        mode="zone",
        ttl=300,
        soa=SoaModel("ns.example.org.", "h.example.org.", 1, 2, 3, 4),
        records=(
            Record("@", "NS", "ns.example.org.", 300, "ns"),
            Record("_25._tcp.mx", "TLSA", f"3 0 0 {cert}", 300),
        ),
    )
    changes = [
        FileChange(
            artifact=Artifact(path=path, zone="example.org", format=kind),
            op="create",
            old=None,
            new=text.encode(),
        )
        for path, kind, text in (
            ("/var/named/zone.example.org", "zone", render_zone(zone)),
            ("/etc/octodns/example.org.yaml", "yaml-zone", render_zone_file(zone)),
        )
    ]
    found = [c for c in dns_changes(Plan(Path("/r"), changes)) if c.type == "TLSA"]
    assert len(found) == 1
    assert found[0].files == ("/var/named/zone.example.org", "/etc/octodns/example.org.yaml")
    assert found[0].new is not None
    assert found[0].new.values == (canonical("TLSA", f"3 0 0 {cert}"),)

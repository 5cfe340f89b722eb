"""Reading a hand-kept zone before including mailauth's fragment into it (issue 12)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dns.name
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import require_binary

from mailauth.backends.handkept_zone import (
    GeneratedRecord,
    check_handkept_zone,
    find_include,
    read_zone,
)

FRAGMENT = "/var/named/mailauth.example.org.inc"
ZONE_PATH = "/var/named/db.example.org"

# In the style of a hand-written BIND zone: $ORIGIN, $TTL, SOA in parentheses, a long TXT
# continued in parentheses, comments everywhere, relative and absolute owners, @, and
# blank owners continuing the previous one.
ZONE = """\
; example.org, kept by hand.
$ORIGIN example.org.
$TTL 7200
@   IN  SOA ns1.example.org. hostmaster.example.org. (
            2026011502  ; serial
            3600        ; refresh
            900         ; retry
            1209600     ; expire
            300 )       ; negative caching
    IN  NS  ns1.example.org.
        NS  ns2.example.net.
    TXT "google-site-verification=abc123"
ns1 IN  A   192.0.2.53
www 3600 IN A 192.0.2.80
        IN  AAAA 2001:db8::80
big.example.org. IN TXT ( "first part of a long text "  ; a comment inside
                          "second part" )
sub 300 IN MX 10 mx.example.net.

$INCLUDE /var/named/mailauth.example.org.inc
"""

GENERATED = [
    GeneratedRecord("example.org.", "MX", "mx", 7200),
    GeneratedRecord("mx1.example.org.", "A", "other", 7200),
    GeneratedRecord("example.org.", "TXT", "spf", 7200),
    GeneratedRecord("mail2026._domainkey.example.org.", "TXT", "dkim", 7200),
    GeneratedRecord("_dmarc.example.org.", "TXT", "dmarc", 7200),
    GeneratedRecord("shop.example.com._report._dmarc.example.org.", "TXT", "report", 7200),
]


def check(text: str, generated: list[GeneratedRecord] = GENERATED, **kwargs: str) -> list[str]:
    result = check_handkept_zone(
        text,
        path=ZONE_PATH,
        origin="example.org",
        fragment_path=FRAGMENT,
        generated=generated,
        **kwargs,
    )
    return [f"{f.severity}: {f.format()}" for f in result.findings]


# --------------------------------------------------------------------------- reading


def test_records_with_lines_owners_and_ttls() -> None:
    records, includes, findings = read_zone(ZONE, "example.org", path=ZONE_PATH)
    assert findings == []
    got = [(r.line, r.name.to_text(), r.type, r.ttl) for r in records]
    assert got == [
        (4, "example.org.", "SOA", 7200),
        (10, "example.org.", "NS", 7200),
        (11, "example.org.", "NS", 7200),
        (12, "example.org.", "TXT", 7200),
        (13, "ns1.example.org.", "A", 7200),
        (14, "www.example.org.", "A", 3600),
        (15, "www.example.org.", "AAAA", 7200),
        (16, "big.example.org.", "TXT", 7200),
        (18, "sub.example.org.", "MX", 300),
    ]
    assert records[7].rdata == '"first part of a long text " "second part"'
    assert [(i.line, i.path, i.origin) for i in includes] == [(20, FRAGMENT, None)]


def test_reader_agrees_with_dnspython_zone_reader() -> None:
    records, _includes, _findings = read_zone(ZONE, "example.org")
    without_include = ZONE.replace("$INCLUDE", "; $INCLUDE")
    zone = dns.zone.from_text(without_include, "example.org.", relativize=False)
    theirs = sorted(
        (name.to_text(), rdataset.ttl, rdata.to_text())
        for name, rdataset in zone.nodes.items()
        for rdataset in rdataset.rdatasets
        for rdata in rdataset
    )
    ours = sorted((r.name.to_text(), r.ttl, r.rdata) for r in records)
    # dnspython gives an RRset one TTL (the first); ours keeps each record's own.
    assert [(n, d) for n, _t, d in ours] == [(n, d) for n, _t, d in theirs]


def test_include_is_never_followed(tmp_path: Path) -> None:
    target = tmp_path / "other.inc"
    target.write_text('@ IN TXT "v=spf1 -all"\n')
    text = f'$ORIGIN example.org.\n$TTL 1\n$INCLUDE {target}\n$INCLUDE "{target}" sub\n'
    records, includes, findings = read_zone(text, "example.org")
    assert records == [] and findings == []
    assert [(i.line, i.path, i.origin) for i in includes] == [
        (3, str(target), None),
        (4, str(target), "sub"),
    ]


def test_ttl_defaults_follow_rfc1035_and_bind() -> None:
    text = (
        "$ORIGIN example.org.\n"
        "@ IN SOA ns1 host ( 1 2 3 4 60 )\n"
        "a 1h IN A 192.0.2.1\n"
        "b IN A 192.0.2.2\n"
        "$TTL 5m\n"
        "c IN 30 A 192.0.2.3\n"
        "d A 192.0.2.4\n"
    )
    records, _i, findings = read_zone(text, "example.org")
    assert findings == []
    assert [(r.name.to_text(), r.ttl) for r in records] == [
        ("example.org.", 60),
        ("a.example.org.", 3600),
        ("b.example.org.", 3600),
        ("c.example.org.", 30),
        ("d.example.org.", 300),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("$ORIGIN example.org.\n@ IN A not-an-address\n", 2),
        ("$TTL 60\n\n\n  IN A 192.0.2.1\n", 4),
        ('$TTL 60\nx IN TXT ( "open"\n', 2),
        ("$TTL 60\n$BOGUS x\n", 2),
        ('$TTL 60\nx CH TXT "a"\n', 2),
        ("$TTL 60\nx IN NOTATYPE foo\n", 2),
        ('$TTL 60\nx IN A 192.0.2.1\n\ny IN TXT ( "a"\n "b"\n bad\n', 4),
        ('$TTL 60\nx IN A 192.0.2.1\n"unterminated\n', 3),
    ],
)
def test_syntax_errors_are_results_with_a_line(text: str, line: int) -> None:
    _records, _includes, findings = read_zone(text, "example.org", path="db.x")
    assert len(findings) == 1
    assert findings[0].severity == "error"
    assert findings[0].line == line
    assert findings[0].format().startswith(f"db.x:{findings[0].line}: cannot read the zone")


# --------------------------------------------------------------------------- $INCLUDE


def test_include_found_by_absolute_or_directory_relative_path() -> None:
    _records, includes, _f = read_zone(ZONE, "example.org")
    assert find_include(includes, FRAGMENT) == includes[0]
    relative = ZONE.replace(f"$INCLUDE {FRAGMENT}", "$INCLUDE mailauth.example.org.inc")
    _r, rel_includes, _f = read_zone(relative, "example.org")
    assert find_include(rel_includes, FRAGMENT) is None
    assert find_include(rel_includes, FRAGMENT, directory="/var/named") == rel_includes[0]
    assert find_include(rel_includes, FRAGMENT, directory="/etc/bind") is None
    assert check(relative, [], directory="/var/named") == []
    (message,) = check(relative, [])
    assert "BIND's directory is not known" in message


def test_missing_include_is_an_error_naming_the_file() -> None:
    text = ZONE.replace(f"$INCLUDE {FRAGMENT}\n", "")
    assert check(text, []) == [
        f"error: {ZONE_PATH}: no $INCLUDE of {FRAGMENT}: the records mailauth writes there "
        f"would never be published; add the line `$INCLUDE {FRAGMENT}`"
    ]


# --------------------------------------------------------------------------- conflicts


def test_clean_zone_has_no_findings_other_txt_at_apex_is_fine() -> None:
    assert check(ZONE) == []


def test_second_spf_dmarc_dkim_report_and_mx_are_errors_with_lines() -> None:
    text = ZONE.replace(
        "ns1 IN  A   192.0.2.53\n",
        "ns1 IN  A   192.0.2.53\n"
        '@ IN TXT "v=spf1 mx -all"\n'  # line 14
        '_dmarc IN TXT ( "v=DMARC1; "\n  "p=none" )\n'  # line 15
        'mail2026._domainkey.example.org. 600 IN TXT "v=DKIM1; p=abc"\n'  # line 17
        'shop.example.com._report._dmarc TXT "v=DMARC1"\n'  # line 18
        "@ MX 5 mx.example.net.\n",  # line 19
    )
    findings = check(text)
    assert [f.split(":")[0:3] for f in findings] == [
        ["error", f" {ZONE_PATH}", "14"],
        ["error", f" {ZONE_PATH}", "15"],
        ["error", f" {ZONE_PATH}", "17"],
        ["error", f" {ZONE_PATH}", "18"],
        ["error", f" {ZONE_PATH}", "19"],
    ]
    assert "example.org. TXT is already defined here, and mailauth generates an SPF" in findings[0]
    assert "a DMARC record for _dmarc.example.org." in findings[1]
    assert "a DKIM key" in findings[2]
    assert "a DMARC report authorisation" in findings[3]
    assert "MX records" in findings[4]


def test_spf_detection_reads_split_strings_and_case() -> None:
    split = ZONE.replace('TXT "google', 'TXT ( "V=SP" "F1 include:x" ) ; "google')
    assert [f.split(":")[2] for f in check(split)] == ["12"]
    assert check(ZONE.replace('"google-site', '"v=spf10 not spf; google-site')) == []


def test_mx_only_when_managed_and_cname_always_clashes() -> None:
    text = ZONE.replace("ns1 IN", "@ IN MX 5 mx.example.net.\nmail2026._domainkey CNAME x.\nns1 IN")
    no_mx = [g for g in GENERATED if g.kind != "mx"]
    (finding,) = check(text, no_mx)
    assert ":14:" in finding and "CNAME" in finding


def test_ttl_clash_on_a_shared_rrset_is_a_warning() -> None:
    text = ZONE.replace('    TXT "google', '  600  TXT "google')
    (finding,) = check(text)
    assert finding.startswith(f"warning: {ZONE_PATH}:12: example.org. TXT has TTL 600 here")
    assert "7200 in /var/named/mailauth.example.org.inc" in finding


def test_names_compare_case_insensitively() -> None:
    text = ZONE.replace("ns1 IN", '_DMARC.Example.ORG. IN TXT "v=DMARC1; p=none"\nns1 IN')
    assert [f.split(":")[2] for f in check(text)] == ["13"]


def test_named_checkzone_reads_the_fixture_as_we_do(tmp_path: Path) -> None:
    checkzone = require_binary("named-checkzone")
    zone = tmp_path / "db.example.org"
    fragment = tmp_path / "mailauth.example.org.inc"
    fragment.write_text("")
    zone.write_text(ZONE.replace(FRAGMENT, str(fragment)))
    result = subprocess.run(
        [checkzone, "-D", "-o", "-", "example.org", str(zone)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dumped = dns.zone.from_text(result.stdout, "example.org.", relativize=False)
    records, _i, _f = read_zone(ZONE, "example.org")
    assert sorted({(r.name, r.type) for r in records}) == sorted(
        {(n, rds.rdtype.name) for n, node in dumped.nodes.items() for rds in node.rdatasets}
    )


# --------------------------------------------------------------------------- robustness

zone_alphabet = st.sampled_from(
    [*'abc019 .@$();"\\\t\n', "IN", "TXT", "$TTL", "$ORIGIN", "$INCLUDE", "SOA", "\x00", "é"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(zone_alphabet, max_size=80).map("".join))
def test_garbage_never_raises(text: str) -> None:
    result = check_handkept_zone(
        text, path="z", origin="example.org", fragment_path=FRAGMENT, generated=GENERATED
    )
    for finding in result.findings:
        assert finding.path == "z"
        assert finding.line is None or 1 <= finding.line <= text.count("\n") + 2


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_never_raises(text: str) -> None:
    read_zone(text, "example.org")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z]{1,6}", fullmatch=True),
            st.sampled_from(["A 192.0.2.1", 'TXT "v=spf1 -all"', 'TXT ( "a"\n "b" )', "MX 1 x."]),
            st.sampled_from(["", "; c", "\n; between\n"]),
        ),
        max_size=8,
    )
)
def test_lines_point_at_the_record(entries: list[tuple[str, str, str]]) -> None:
    text = "$ORIGIN example.org.\n$TTL 60\n"
    expected = []
    for owner, rdata, comment in entries:
        expected.append((text.count("\n") + 1, owner))
        text += f"{owner} IN {rdata} {comment}\n"
    records, _i, findings = read_zone(text, "example.org")
    assert findings == []
    assert [
        (r.line, r.name.relativize(dns.name.from_text("example.org")).to_text()) for r in records
    ] == expected
    lines = text.split("\n")
    for record in records:
        assert lines[record.line - 1].startswith(record.name.labels[0].decode())


def test_a_second_tlsrpt_or_bimi_record_is_an_error_other_txt_there_is_not() -> None:
    generated = [
        *GENERATED,
        GeneratedRecord("_smtp._tls.example.org.", "TXT", "tlsrpt", 7200),
        GeneratedRecord("default._bimi.example.org.", "TXT", "bimi", 7200),
    ]
    text = ZONE.replace(
        "ns1 IN  A   192.0.2.53\n",
        "ns1 IN  A   192.0.2.53\n"
        '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:old@example.org"\n'  # line 14
        'default._bimi IN TXT "v=BIMI1; l=https://example.org/old.svg"\n'  # line 15
        '_smtp._tls IN TXT "a note, not a TLS-RPT record"\n',
    )
    findings = check(text, generated)
    assert [f.split(":")[0:3] for f in findings] == [
        ["error", f" {ZONE_PATH}", "14"],
        ["error", f" {ZONE_PATH}", "15"],
    ]
    assert "a TLS-RPT record" in findings[0] and "a BIMI record" in findings[1]

"""Properties that must hold for any input, checked with hypothesis.

(a) TXT splitting and escaping: any text survives ``txt_rdata`` and a zone file, read back by
    dnspython, octet for octet, in character-strings of at most 255 octets.
(b) The SOA serial is found (and replaced) in any layout BIND accepts, and moves forward in
    the scheme it has (a date stays a date, a counter keeps counting, nothing wraps).
(c) For generated configs, ``apply`` then ``plan`` is empty, and ``plan`` never changes the
    disk.
"""

from __future__ import annotations

import base64
import hashlib
import string
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import dns.rdata
import dns.zone
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mailauth.backends.bind import render_zone
from mailauth.backends.zonefile import (
    SERIAL_MAX,
    SerialError,
    find_serial,
    is_date_serial,
    next_serial,
    replace_serial,
    txt_rdata,
)
from mailauth.compiler.cli import app
from mailauth.compiler.model import Record, SoaModel, ZoneModel

# --- (a) TXT ---------------------------------------------------------------------------------

TRICKY = [*'"\\;()$@ \t', "é", "☕", "日", "\U0001f600", "\u00a0", "\u200b"]
any_text = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=["Cs"]),  # everything a str can hold, even NUL
        st.sampled_from(TRICKY),
    ),
    max_size=700,
)
printable_text = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=["Cs", "Cc"]),
        st.sampled_from(['"', "\\", ";", " "]),
    ),
    max_size=700,
)


def parse_txt(parts: list[str]) -> tuple[bytes, ...]:
    rdata = dns.rdata.from_text("IN", "TXT", " ".join(parts))
    return tuple(rdata.strings)  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(any_text)
@example("")
@example('"')
@example("\\")
@example('\\"')
@example("x" * 255)
@example("x" * 256)
@example("z" * 254 + "€")
@example("v=DKIM1; k=rsa; p=" + "A" * 400)
def test_txt_rdata_round_trips_through_dnspython(value: str) -> None:
    parts = txt_rdata(value)
    strings = parse_txt(parts)
    assert b"".join(strings) == value.encode("utf-8")
    assert all(len(s) <= 255 for s in strings)
    data = value.encode("utf-8")
    assert len(strings) == max(1, -(-len(data) // 255))
    for part in parts:
        # each part is one quoted character-string on one line
        assert part.startswith('"') and part.endswith('"') and "\n" not in part


@settings(max_examples=100, deadline=None)
@given(st.lists(printable_text, min_size=1, max_size=4))
def test_txt_values_survive_a_whole_zone_file(values: list[str]) -> None:
    """The same through render_zone (long values continue in parentheses) and a zone parse."""
    records = tuple(Record(f"t{i}", "TXT", v, 300, "extra") for i, v in enumerate(values))
    zone = ZoneModel(
        name="example.org",
        mode="zone",
        ttl=300,
        soa=SoaModel("ns.example.org.", "hostmaster.example.org.", 1, 2, 3, 4),
        records=(*records, Record("@", "NS", "ns.example.org.", 300, "ns")),
    )
    text = render_zone(zone, serial="2026011801")
    parsed = dns.zone.from_text(text, origin="example.org.", relativize=True)
    for i, value in enumerate(values):
        (rdata,) = list(parsed.find_rdataset(f"t{i}", "TXT"))
        assert b"".join(rdata.strings) == value.encode("utf-8")


# --- (b) SOA serial --------------------------------------------------------------------------

blank = st.sampled_from([" ", "  ", "\t", " \t "])
comment = st.sampled_from(["", " ; serial", "\t; SOA serial (YYYYMMDDnn)", ";x", " ;(not a paren)"])
name_text = st.sampled_from(
    ["ns1.example.org.", "ns.example.net.", "a.", "dns\\.admin.example.org.", "hostmaster"]
)


@st.composite
def soa_layout(draw: st.DrawFn) -> tuple[str, int]:
    """A zone file whose first record is an SOA written in one of BIND's many shapes."""
    serial = draw(st.integers(min_value=0, max_value=2**32 - 1))
    numbers = [str(serial)] + [str(draw(st.integers(0, 2**31 - 1))) for _ in range(4)]
    owner = draw(st.sampled_from(["@", "example.org.", "example.org"]))
    ttl = draw(st.sampled_from(["", "3600", "1D"]))
    klass = draw(st.sampled_from(["IN", "in", ""]))
    soa = draw(st.sampled_from(["SOA", "soa", "Soa"]))
    head = [owner, ttl, klass, soa, draw(name_text), draw(name_text)]
    head = [h for h in head if h]
    sep = draw(blank)
    preamble = draw(
        st.lists(
            st.sampled_from(
                [
                    "$ORIGIN example.org.",
                    "$TTL 86400",
                    "; zone example.org: the SOA serial 1999 is below",
                    ';  "quoted" SOA 42 in a comment',
                    "",
                ]
            ),
            max_size=4,
        )
    )
    shape = draw(st.sampled_from(["one-line", "parens", "paren-per-line", "tight-parens"]))
    if shape == "one-line":
        body = sep.join(head + numbers) + draw(comment)
    elif shape == "parens":
        lines = [sep.join(head) + sep + "("]
        lines += [draw(blank) + n + draw(comment) for n in numbers[:-1]]
        lines.append(draw(blank) + numbers[-1] + sep + ")" + draw(comment))
        body = "\n".join(lines)
    elif shape == "paren-per-line":
        lines = [sep.join(head)]
        lines.append(draw(blank) + "(" + draw(blank) + numbers[0] + draw(comment))
        lines += [draw(blank) + n for n in numbers[1:]]
        lines.append(draw(blank) + ")")
        body = "\n".join(lines)
    else:
        body = sep.join(head) + "(" + " ".join(numbers) + ")"
    tail = "\n".join(["", "@ IN NS ns1.example.org.", "soa IN A 192.0.2.1", 'txt IN TXT "SOA 7"'])
    return "\n".join([*preamble, body]) + tail + "\n", serial


@settings(max_examples=300, deadline=None)
@given(soa_layout(), st.integers(min_value=0, max_value=2**32 - 1))
def test_find_and_replace_serial_in_any_layout(layout: tuple[str, int], new: int) -> None:
    text, serial = layout
    span = find_serial(text)
    assert span is not None, text
    assert span.value == serial
    assert text[span.start : span.end] == str(serial)
    replaced = replace_serial(text, span, new)
    again = find_serial(replaced)
    assert again is not None and again.value == new
    # nothing but the serial moved
    assert replaced[: span.start] == text[: span.start]
    assert replaced[again.end :] == text[span.end :]


# Serials in the YYYYMMDDnn scheme (1990-2100), and numbers of any size: counters.
date_serials = st.builds(
    lambda day, n: int(day.strftime("%Y%m%d")) * 100 + n,
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
    st.integers(min_value=0, max_value=99),
)
any_serials = st.one_of(
    st.none(),
    date_serials,
    st.integers(min_value=0, max_value=SERIAL_MAX),
    st.integers(min_value=SERIAL_MAX - 3, max_value=SERIAL_MAX),
)


def _day_serial(day: date) -> int:
    return int(day.strftime("%Y%m%d")) * 100 + 1


@settings(max_examples=500, deadline=None)
@given(any_serials, st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
@example(42, date(2026, 1, 18))  # a counter: 43, not today's date
@example(2026011502, date(2026, 1, 18))
@example(2026011899, date(2026, 1, 18))
@example(1999999999, date(2026, 1, 18))  # month 99: a counter
@example(SERIAL_MAX - 1, date(2026, 1, 18))
@example(SERIAL_MAX, date(2026, 1, 18))
def test_next_serial_moves_forward_in_the_scheme_it_finds(old: int | None, today: date) -> None:
    if old == SERIAL_MAX:
        # RFC 1982 arithmetic would wrap to 0; mailauth refuses, with a reason.
        try:
            next_serial(old, today)
        except SerialError as exc:
            assert "2^32" in str(exc) and "RFC 1982" in str(exc)
        else:
            raise AssertionError("the largest serial was bumped")
        return
    new = next_serial(old, today)
    assert 0 < new <= SERIAL_MAX
    if old is None:
        # A new zone starts with today's date.
        assert new == _day_serial(today)
        return
    assert new > old  # never backwards, never wrapped
    if is_date_serial(old):
        assert new == max(old + 1, _day_serial(today))
    else:
        assert new == old + 1  # a counter keeps counting


@given(date_serials)
def test_date_serials_are_date_like(serial: int) -> None:
    assert is_date_serial(serial)


def test_what_is_date_like() -> None:
    assert is_date_serial(2026011502)
    assert is_date_serial(1990010100) and is_date_serial(2100123199)
    for counter in (0, 42, 202601150, 20260115020, 1989123101, 2101010101, 2026023001, 2026130101):
        assert not is_date_serial(counter), counter


def test_no_soa_means_no_serial() -> None:
    assert find_serial("$TTL 3600\n@ IN NS ns.example.org.\n") is None
    assert find_serial("@ IN SOA ns. host. (notanumber 1 2 3 4)") is None


def test_a_host_called_soa_before_the_soa_record() -> None:
    text = "soa IN A 192.0.2.1\n@ IN SOA ns. host. 2026011801 1 2 3 4\n"
    span = find_serial(text)
    assert span is not None and span.value == 2026011801


# --- (c) apply then plan ---------------------------------------------------------------------

policy = st.sampled_from(["none", "quarantine", "reject"])
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
provider = st.sampled_from(["_spf.provider.example", "spf.mail.example.net", "%{d}._spf.x.org"])
b64_key = st.binary(min_size=32, max_size=300).map(lambda b: base64.b64encode(b).decode())


@st.composite
def spf_settings(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 9)) == 0:
        includes = [f"include:{p}" for p in draw(st.lists(provider, max_size=2))]
        return {"raw": " ".join(["v=spf1", *includes, "-all"])}
    spf: dict[str, Any] = {}
    if draw(st.booleans()):
        spf["mx"] = draw(st.one_of(st.booleans(), st.just(["/24", "mail.example.org/28"])))
    if draw(st.booleans()):
        spf["a"] = draw(st.booleans())
    if draw(st.booleans()):
        spf["ip4"] = draw(st.lists(ipv4, max_size=3, unique=True))
    if draw(st.booleans()):
        spf["ip6"] = draw(st.lists(ipv6, max_size=2, unique=True))
    if draw(st.booleans()):
        spf["include"] = draw(st.lists(provider, max_size=2, unique=True))
    if draw(st.booleans()):
        spf["all"] = draw(st.sampled_from(["-all", "~all", "?all"]))
    elif draw(st.booleans()):
        spf["redirect"] = draw(provider)
    return spf


@st.composite
def dmarc_settings(draw: st.DrawFn) -> dict[str, Any]:
    dmarc: dict[str, Any] = {"p": draw(policy)}
    for tag in ("sp", "np"):
        if draw(st.booleans()):
            dmarc[tag] = draw(policy)
    for tag in ("adkim", "aspf"):
        if draw(st.booleans()):
            dmarc[tag] = draw(st.sampled_from(["r", "s"]))
    if draw(st.booleans()):
        dmarc["rua"] = draw(
            st.lists(st.sampled_from(["agg@example.org", "r@x.example"]), max_size=2)
        )
    if draw(st.booleans()):
        dmarc["fo"] = draw(st.sampled_from(["0", "1", "d:s", "0:1:d:s"]))
    if draw(st.booleans()):
        dmarc["t"] = draw(st.booleans())
    return dmarc


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=4))
    names = ["example.org"] + [f"d{i}.example.org" for i in range(1, count)]
    if draw(st.booleans()):
        names.append("elsewhere.example.net")  # in no declared zone: an include fragment
    mode = draw(st.sampled_from(["zone", "include"]))
    zone: dict[str, Any] = {"name": "example.org", "mode": mode}
    if mode == "zone":
        zone["ns"] = ["ns1.example.org", "ns2.example.net"]
        zone["records"] = [{"name": "ns1", "type": "A", "value": draw(ipv4)}]
    elif draw(st.booleans()):
        zone["serial_file"] = "/var/named/db.example.org"
    domains = []
    for name in names:
        domain: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            domain["spf"] = draw(spf_settings())
        if draw(st.booleans()):
            domain["dmarc"] = draw(dmarc_settings())
        if draw(st.booleans()):
            domain["dkim"] = {
                "selectors": [{"name": "s1", "algorithm": "rsa", "public_key": draw(b64_key)}]
            }
        domains.append(domain)
    return {
        "version": 1,
        "defaults": {
            "ttl": draw(st.integers(min_value=60, max_value=86400)),
            "spf": draw(spf_settings()),
            "dmarc": draw(dmarc_settings()),
        },
        "mail_hosts": [{"name": "mail.example.org", "ipv4": [draw(ipv4)]}],
        "zones": [zone],
        "domains": domains,
        "targets": {"bind": {"directory": "/var/named"}},
    }


HAND_KEPT = (
    "$TTL 3600\n@ IN SOA ns1.example.org. hostmaster.example.org. (\n"
    "    2020010101 ; serial\n    3600 900 1209600 300 )\n"
    "  IN NS ns1.example.org.\n$INCLUDE /var/named/mailauth.example.org.inc\n"
)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with a hash of its content and its mode."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            found[rel] = f"dir {path.stat().st_mode:o}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[rel] = f"{digest} {path.stat().st_mode:o} {path.stat().st_mtime_ns}"
    return found


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(configs(), st.sampled_from(["none", "quarantine", "reject"]))
def test_apply_then_plan_is_empty_and_plan_never_writes(
    config: dict[str, Any], new_policy: str
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        path = base / "config" / "mailauth.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        root = base / "root"
        root.mkdir()
        if config["zones"][0].get("serial_file"):
            hand = root / "var/named/db.example.org"
            hand.parent.mkdir(parents=True)
            hand.write_text(HAND_KEPT)

        before = snapshot(root)
        code, out = invoke("plan", "-c", path, "--root", root)
        assert code == 2, out
        assert snapshot(root) == before, "plan wrote to the disk"

        code, out = invoke("apply", "-c", path, "--root", root, "--yes")
        assert code == 0, out

        applied = snapshot(root)
        code, out = invoke("plan", "-c", path, "--root", root)
        assert code == 0, out
        assert "No changes" in out
        assert snapshot(root) == applied, "plan wrote to the disk"

        code, out = invoke("apply", "-c", path, "--root", root, "--yes")
        assert code == 0, out
        assert "No changes" in out
        assert {k: v for k, v in snapshot(root).items() if "apply.lock" not in k} == {
            k: v for k, v in applied.items() if "apply.lock" not in k
        }, "a second apply changed files"

        # a policy change is a pending change that plan shows but does not make
        config["defaults"]["dmarc"]["p"] = new_policy
        for domain in config["domains"]:
            domain.setdefault("dmarc", {})["p"] = new_policy
        config["defaults"]["ttl"] = config["defaults"]["ttl"] + 1
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        code, out = invoke("plan", "-c", path, "--root", root)
        assert code == 2, out
        assert snapshot(root) == applied, "plan wrote to the disk"


def test_generated_configs_are_valid() -> None:
    """Guard for the strategy itself: a config it makes passes `mailauth validate`."""

    @settings(max_examples=20, deadline=None)
    @given(configs())
    def check(config: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "mailauth.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            code, out = invoke("validate", "-c", path)
            assert code == 0, out

    check()


def test_strategies_reach_the_tricky_characters() -> None:
    """The TXT alphabet really includes quotes, backslashes and semicolons."""
    assert {'"', "\\", ";"} <= set(TRICKY)
    assert set(string.punctuation) & set(TRICKY)

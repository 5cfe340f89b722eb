"""``mailauth import``, DNS side: hand-kept zones (and live DNS) read into mailauth.yaml's
shapes, so that the first plan changes no DNS record; what cannot be said exactly is a
Note, never silently changed (issue 17)."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import REPO, NamedServer

from mailauth.compiler import driver
from mailauth.compiler.importer.dns_side import ZoneReadError, read_dns, read_live_dns
from mailauth.compiler.importer.found import Found, Note
from mailauth.compiler.importer.mail_records import (
    Unparsed,
    parse_dkim,
    parse_dmarc,
    parse_spf,
)
from mailauth.compiler.importer.named_conf import NamedConfError
from mailauth.compiler.records import dkim_text, dmarc_text, spf_text
from mailauth.schema.models import Dmarc, Domain, MailHost, Spf, Zone

FIXTURES = REPO / "tests" / "fixtures" / "import" / "dns"
ARTICLE = FIXTURES / "article"
ODD = FIXTURES / "odd"
ODD_ZONE = "/var/named/example.org.zone"
RAW_ZONE = "/var/named/db.raw.example"

Row = tuple[str, str, int, str]  # owner, type, TTL, value (TXT: the joined text)


# -- helpers ---------------------------------------------------------------------------------


def notes_of(found: Found, kind: str) -> list[Note]:
    return [n for n in found.notes if n.kind == kind]


def zone_rows(root: Path, name: str, file: str, tmp_path: Path) -> set[Row]:
    """The records of a zone file as named would load them: dnspython, independently of
    the importer, on a copy whose $INCLUDE names are rewritten to the copy's files."""
    copy = copy_tree(root, tmp_path / "plain")
    for path in copy.rglob("*"):
        if path.is_file():
            text = path.read_text()
            text = text.replace("$INCLUDE inc/", f"$INCLUDE {copy}/var/named/inc/")
            path.write_text(text.replace("$INCLUDE /var/", f"$INCLUDE {copy}/var/"))
    text = (copy / file.lstrip("/")).read_text()
    zone = dns.zone.from_text(text, origin=name + ".", relativize=False, allow_include=True)
    rows: set[Row] = set()
    for owner, rds in zone.iterate_rdatasets():
        for rd in rds:
            if rds.rdtype == dns.rdatatype.SOA:
                continue
            value = (
                b"".join(rd.strings).decode()
                if rds.rdtype == dns.rdatatype.TXT
                else rd.to_text(origin=None, relativize=False)
            )
            rows.add((owner.to_text(), dns.rdatatype.to_text(rds.rdtype), rds.ttl, value))
    return rows


def planned_rows(found: Found, tmp_path: Path) -> dict[str, set[Row]]:
    """What mailauth's own build makes of the imported fragments, per zone. The DKIM public
    keys the lock would carry are put into the selectors here (the writer's job)."""
    domains: list[dict[str, Any]] = []
    for name, entry in found.domains.items():
        entry = dict(entry)
        if "dkim" in entry:
            entry["dkim"] = {
                "selectors": [
                    {**sel, "public_key": found.dns_keys[(name, sel["name"])]}
                    for sel in entry["dkim"]["selectors"]
                ]
            }
        domains.append(entry)
    doc = {"zones": found.zones, "domains": domains, "mail_hosts": found.mail_hosts}
    config = tmp_path / "config" / "mailauth.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    model = driver.model_for(driver.open_job(config, tmp_path / "out", None))
    out: dict[str, set[Row]] = {}
    for zone in model.zones:
        rows = out.setdefault(zone.name, set())
        for record in zone.records:
            value = record.value
            if record.type != "TXT":
                rdata = dns.rdata.from_text(
                    dns.rdataclass.IN,
                    record.type,
                    value,
                    origin=dns.name.from_text(zone.name),
                    relativize=False,
                )
                value = rdata.to_text(origin=None, relativize=False)
            rows.add((record.fqdn(zone.name), record.type, record.ttl, value))
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# -- the article's setup ---------------------------------------------------------------------


def test_article_zones_from_named_conf() -> None:
    found = read_dns(ARTICLE, [], "/etc/named.conf", False)
    assert [z["name"] for z in found.zones] == ["slackbox.fr", "unixbox.fr"]
    slack = found.zones[0]
    assert slack["ttl"] == 86400
    assert slack["ns"] == ["ns.slackbox.fr", "nssec.online.net"]
    assert slack["soa"] == {
        "mname": "ns.slackbox.fr",
        "rname": "hostmaster@slackbox.fr",
        "refresh": 10800,
        "retry": 600,
        "expire": 1814400,
        "minimum": 10800,
    }
    assert {(r["name"], r["type"]) for r in slack["records"]} == {
        ("@", "A"),
        ("ns", "A"),
        ("www", "CNAME"),
        ("blog", "CNAME"),
        ("gestion", "CNAME"),
        ("cloud", "CNAME"),
    }  # mail.slackbox.fr's A is the mail host's; MX, SPF, DMARC and DKIM are the domain's
    assert found.domains["slackbox.fr"] == {
        "name": "slackbox.fr",
        "mx": [{"host": "mail.slackbox.fr", "priority": 10}],
        "spf": {"mx": True, "all": "~all"},
        "dkim": {"selectors": [{"name": "01", "algorithm": "rsa", "bits": 2048}]},
        "dmarc": {"p": "none", "sp": "quarantine"},
    }
    assert found.mail_hosts == [{"name": "mail.slackbox.fr", "ipv4": ["51.158.146.161"]}]
    # The secondary zone of the included file is listed, the hint zone is not a zone.
    (secondary,) = notes_of(found, "not-imported")
    assert secondary.where == "/etc/named.zones.conf:5" and "example.net" in secondary.what
    for entry in found.zones:
        Zone.model_validate(entry)
    for entry in found.domains.values():
        Domain.model_validate(entry)
    for host in found.mail_hosts:
        MailHost.model_validate(host)


def test_article_dkim_p_is_the_zone_files_key() -> None:
    found = read_dns(ARTICLE, ["/var/named/zone.slackbox.fr"], None, False)
    zone = dns.zone.from_file(
        str(ARTICLE / "var/named/zone.slackbox.fr"), origin="slackbox.fr.", relativize=False
    )
    (rdata,) = zone.get_rdataset("01._domainkey.slackbox.fr.", "TXT")
    published = b"".join(rdata.strings).decode()
    assert published.endswith("p=" + found.dns_keys[("slackbox.fr", "01")])
    assert len(found.dns_keys[("slackbox.fr", "01")]) == 392  # 2048-bit SubjectPublicKeyInfo


def test_article_first_plan_changes_no_record(tmp_path: Path) -> None:
    found = read_dns(ARTICLE, [], "/etc/named.conf", False)
    planned = planned_rows(found, tmp_path)
    for name in ("slackbox.fr", "unixbox.fr"):
        assert planned[name] == zone_rows(
            ARTICLE, name, f"/var/named/zone.{name}", tmp_path / name
        ), name
    # Only the DKIM records' split into strings differs, and that is said.
    changed = notes_of(found, "changed")
    assert {n.where.rsplit(": ", 1)[-1] for n in changed} == {
        "01._domainkey.slackbox.fr",
        "01._domainkey.unixbox.fr",
    }


def test_include_mode_keeps_the_hand_kept_file() -> None:
    found = read_dns(ARTICLE, [], "/etc/named.conf", True)
    assert found.zones[0] == {
        "name": "slackbox.fr",
        "mode": "include",
        "ttl": 86400,
        "serial_file": "/var/named/zone.slackbox.fr",
    }
    assert "records" not in found.zones[1]
    # The addresses stay in the hand-kept file: the fragment must not repeat them.
    assert found.mail_hosts == [{"name": "mail.slackbox.fr"}]
    assert found.domains["unixbox.fr"]["spf"] == {"mx": True, "all": "~all"}
    assert "remove its MX, SPF, DMARC and DKIM" in found.comments["zones.slackbox.fr"]
    for entry in found.zones:
        Zone.model_validate(entry)


def test_named_conf_relative_include_and_zone_named_by_file(tmp_path: Path) -> None:
    root = copy_tree(ARTICLE, tmp_path / "root")
    (root / "etc/named.conf").write_text(
        'options { directory "/var/named"; };\ninclude "local.zones";\n'
    )
    (root / "var/named/local.zones").write_text(
        'zone "unixbox.fr" { type master; file "zone.unixbox.fr"; };\n'
    )
    found = read_dns(root, [], "/etc/named.conf", False)
    assert [z["name"] for z in found.zones] == ["unixbox.fr"]
    # a --zone file without $ORIGIN is named by its file name, and that is said
    text = (root / "var/named/zone.unixbox.fr").read_text()
    (root / "var/named/db.unixbox.fr").write_text(text.replace("$ORIGIN unixbox.fr.\n", ""))
    alone = read_dns(root, ["/var/named/db.unixbox.fr"], None, True)
    assert alone.zones[0]["name"] == "unixbox.fr"
    assert "has no $ORIGIN" in alone.comments["zones.unixbox.fr"]
    assert "remove its MX" in alone.comments["zones.unixbox.fr"]


# -- odd input -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd() -> Found:
    return read_dns(ODD, [ODD_ZONE, RAW_ZONE], None, False)


def test_multi_line_txt_with_mixed_quoting(odd: Found) -> None:
    assert odd.domains["example.org"]["spf"] == {
        "mx": True,
        "all": "-all",
        "ip4": ["192.0.2.0/24"],
        "include": ["_spf.example.net"],
    }
    # unquoted `v=DKIM1\;`, quoted parts, unquoted base64 on two lines: one key
    key = odd.dns_keys[("example.org", "sel1")]
    assert key == odd.dns_keys[("raw.example", "x")]
    assert odd.domains["example.org"]["dkim"]["selectors"] == [
        {"name": "sel1", "algorithm": "rsa", "bits": 2048}
    ]


def test_include_chain_with_origin(odd: Found) -> None:
    records = {(r["name"], r["type"], r["value"]) for r in odd.zones[0]["records"]}
    assert ("a-inc", "A", "192.0.2.101") in records
    assert ("sub", "TXT", "in b, at sub") in records  # b.inc's own origin
    assert ("deep.sub", "A", "192.0.2.102") in records
    assert ("after", "TXT", "after the include") in records  # origin restored after it


def test_generate_is_imported_expanded_and_said(odd: Found) -> None:
    records = {(r["name"], r["value"]) for r in odd.zones[0]["records"] if r["type"] == "A"}
    assert {
        ("host1", "198.51.100.1"),
        ("host2", "198.51.100.2"),
        ("host3", "198.51.100.3"),
    } <= records
    (note,) = [n for n in odd.notes if n.what.startswith("$GENERATE")]
    assert note.kind == "changed" and note.where == f"{ODD_ZONE}:31"


def test_comments_everywhere_and_escaped_rname(odd: Found) -> None:
    soa = odd.zones[0]["soa"]
    assert soa["rname"] == "john.doe@example.org"
    assert (soa["refresh"], soa["retry"], soa["minimum"]) == (7200, 3600, 300)
    assert odd.zones[0]["ttl"] == 3600  # $TTL 1h ; one hour
    assert odd.comments["zones.example.org.soa"] == "serial was 42; mailauth keeps it from now on"


def test_record_type_outside_the_schema_is_listed(odd: Found) -> None:
    (naptr,) = [n for n in odd.notes if " NAPTR " in n.what]
    assert naptr.kind == "not-imported"
    assert naptr.where == f"{ODD_ZONE}: example.org"
    assert all(r["type"] != "NAPTR" for r in odd.zones[0]["records"])


def test_unparseable_spf_is_raw_with_a_note(odd: Found) -> None:
    assert odd.domains["raw.example"]["spf"] == {"raw": "v=spf1 ptr +mx -all"}
    (raw,) = [n for n in notes_of(odd, "raw") if n.what.startswith("v=spf1")]
    assert "'ptr'" in raw.why
    assert "kept as raw" in odd.comments["domains.raw.example.spf"]


def test_dmarc_that_differs_in_text_is_raw_and_dkim_is_said(odd: Found) -> None:
    # mailauth would write `v=DMARC1; p=none`: the record is kept byte for byte instead
    assert odd.domains["raw.example"]["dmarc"] == {"raw": "v=DMARC1;p=none"}
    (raw,) = [n for n in notes_of(odd, "raw") if n.what.startswith("v=DMARC1")]
    assert "v=DMARC1; p=none" in raw.why and raw.where.endswith("_dmarc.raw.example")
    assert "kept as raw" in odd.comments["domains.raw.example.dmarc"]
    changed = {
        n.where.rsplit(": ", 1)[-1]: n for n in notes_of(odd, "changed") if "strings" not in n.what
    }
    assert "_dmarc.raw.example" not in changed
    assert "h" in changed["x._domainkey.raw.example"].why


def test_dmarc_kept_raw_plans_no_change(odd: Found, tmp_path: Path) -> None:
    planned = planned_rows(odd, tmp_path)["raw.example"]
    original = zone_rows(ODD, "raw.example", RAW_ZONE, tmp_path)
    dmarc = {row for row in original if row[0] == "_dmarc.raw.example."}
    assert [row[3] for row in dmarc] == ["v=DMARC1;p=none"]
    assert dmarc <= planned


def test_odd_zone_first_plan_differs_only_where_noted(odd: Found, tmp_path: Path) -> None:
    planned = planned_rows(odd, tmp_path)["example.org"]
    original = zone_rows(ODD, "example.org", ODD_ZONE, tmp_path)
    naptr = {row for row in original if row[1] == "NAPTR"}
    assert {r[:2] + r[3:] for r in planned} == {r[:2] + r[3:] for r in original - naptr}
    ttl_changed = {(o, t) for o, t, _, _ in planned ^ (original - naptr)}
    # _dmarc at 300 (the domain's records share one TTL) and mx2's A at 600: both noted.
    assert ttl_changed == {("_dmarc.example.org.", "TXT"), ("mx2.example.org.", "A")}
    noted = {n.where.rsplit(": ", 1)[-1] for n in notes_of(odd, "changed")}
    assert {"example.org", "mx2.example.org"} <= noted


def test_crlf_files_read_the_same(tmp_path: Path, odd: Found) -> None:
    root = copy_tree(ODD, tmp_path / "root")
    for path in root.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    again = read_dns(root, [ODD_ZONE, RAW_ZONE], None, False)
    assert again.zones == odd.zones
    assert again.domains == odd.domains
    assert again.dns_keys == odd.dns_keys


def test_include_through_a_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.inc"
    outside.write_text("leak IN A 192.0.2.1\n")
    root = copy_tree(ODD, tmp_path / "root")
    (root / "var/named/inc/a.inc").unlink()
    (root / "var/named/inc/a.inc").symlink_to(outside)
    with pytest.raises(ZoneReadError, match=r"example\.org\.zone:32: \$INCLUDE refused.*outside"):
        read_dns(root, [ODD_ZONE], None, False)


def test_include_with_dot_dots_stays_under_root() -> None:
    # `$INCLUDE ../../../../../../../etc/passwd` is /etc/passwd of the root, which the
    # fixture does not have: the host's own file is never read.
    with pytest.raises(ZoneReadError, match=r"escape\.example\.zone:6: .*cannot read"):
        read_dns(ODD, ["/var/named/escape.example.zone"], None, False)


def test_zone_file_outside_root_and_bad_named_conf(tmp_path: Path) -> None:
    root = copy_tree(ARTICLE, tmp_path / "root")
    (root / "var/named/link").symlink_to(tmp_path)
    with pytest.raises(ZoneReadError, match="outside the root"):
        read_dns(root, ["/var/named/link/x.zone"], None, False)
    (root / "etc/named.conf").write_text('zone "a.example" {\n type master;\n')
    with pytest.raises(NamedConfError, match=r"named\.conf"):
        read_dns(root, [], "/etc/named.conf", False)


# -- round trip: what compiler.records writes parses back to the same fields -----------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_domain = st.lists(_label, min_size=2, max_size=4).map(".".join)
_host_cidr = st.one_of(
    _domain,
    st.tuples(_domain, st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.integers(0, 32).map(lambda n: f"/{n}"),
)


def _net(version: int) -> st.SearchStrategy[str]:
    bits = 32 if version == 4 else 128
    return st.tuples(st.ip_addresses(v=version), st.integers(8, bits)).map(
        lambda t: str(ipaddress.ip_network(f"{t[0]}/{t[1]}", strict=False))
    )


_mech = st.one_of(st.booleans(), st.lists(_host_cidr, min_size=1, max_size=2))
_spfs = st.builds(
    Spf,
    mx=_mech,
    a=_mech,
    ip4=st.lists(_net(4), max_size=3),
    ip6=st.lists(_net(6), max_size=2),
    include=st.lists(_domain, max_size=3),
    exists=st.lists(_domain, max_size=1),
    redirect=st.none() | _domain,
    all=st.sampled_from([None, "-all", "~all", "?all", "+all"]),
)
_policy = st.sampled_from([None, "none", "quarantine", "reject"])
_uris = st.lists(st.tuples(_label, _domain).map(lambda t: f"mailto:{t[0]}@{t[1]}"), max_size=2)
_dmarcs = st.builds(
    Dmarc,
    p=st.sampled_from(["none", "quarantine", "reject"]),
    sp=_policy,
    np=_policy,
    adkim=st.sampled_from([None, "r", "s"]),
    aspf=st.sampled_from([None, "r", "s"]),
    pct=st.none() | st.integers(0, 100),
    fo=st.none()
    | st.lists(st.sampled_from("01ds"), min_size=1, max_size=4, unique=True).map(":".join),
    rua=_uris,
    ruf=_uris,
    psd=st.sampled_from([None, "y", "n", "u"]),
    t=st.none() | st.booleans(),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_spfs)
def test_spf_written_by_mailauth_parses_back_to_the_same_model(spf: Spf) -> None:
    text = spf_text(spf)
    parsed = parse_spf(text)
    assert parsed.exact, parsed.why
    assert Spf.model_validate(parsed.fields) == spf


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dmarcs)
def test_dmarc_written_by_mailauth_parses_back_to_the_same_model(dmarc: Dmarc) -> None:
    text = dmarc_text(dmarc)
    parsed = parse_dmarc(text)
    assert parsed.exact, parsed.why
    assert Dmarc.model_validate(parsed.fields) == dmarc


@given(st.sampled_from(["rsa", "ed25519"]), st.booleans())
def test_dkim_written_by_mailauth_parses_back(algorithm: str, testing: bool) -> None:
    p = "MCowBQYDK2VwAyEA" + "A" * 44 if algorithm == "ed25519" else "QUJD"
    parsed = parse_dkim(dkim_text(algorithm, p, testing=testing))
    assert parsed.exact and parsed.extra["p"] == p
    assert (
        parsed.fields["algorithm"] == algorithm and parsed.fields.get("testing", False) == testing
    )


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("v=spf1 mx ~all", True),
        ("v=spf1 ~all mx", False),  # parses, other order: raw keeps the text
        ("v=spf1  mx ~all", False),
        ("v=spf1 all", None),  # bare all is +all: not the same text
        ("v=spf1 -mx ~all", None),
        ("v=spf1 mx exp=explain.example.org ~all", None),
    ],
)
def test_spf_exactness(text: str, exact: bool | None) -> None:
    if exact is None:
        with pytest.raises(Unparsed):
            if not parse_spf(text).exact:
                raise Unparsed("not exact")
        return
    assert parse_spf(text).exact is exact


@pytest.mark.parametrize(
    "text",
    [
        "v=DMARC1; p=none; sp=quarantine; foo=bar",  # a tag the schema lacks
        "v=DMARC1; sp=quarantine; p=none",  # tags in another order
        "v=DMARC1; p=none; rua=mailto:d@unixbox.fr!10m, mailto:e@unixbox.fr",  # a space
        "v=DMARC1; p=none;",  # a trailing separator
    ],
)
def test_dmarc_that_mailauth_would_rewrite_is_raw(text: str, tmp_path: Path) -> None:
    root = copy_tree(ARTICLE, tmp_path / "root")
    zone = root / "var/named/zone.unixbox.fr"
    zone.write_text(zone.read_text().replace("v=DMARC1; p=none; sp=quarantine", text))
    found = read_dns(root, ["/var/named/zone.unixbox.fr"], None, False)
    assert found.domains["unixbox.fr"]["dmarc"] == {"raw": text}
    (note,) = notes_of(found, "raw")
    assert note.what == text and note.where.endswith("_dmarc.unixbox.fr")
    assert not notes_of(found, "not-imported")
    assert "kept as raw" in found.comments["domains.unixbox.fr.dmarc"]
    planned = planned_rows(found, tmp_path)["unixbox.fr"]
    assert ("_dmarc.unixbox.fr.", "TXT", text) in {(o, t, v) for o, t, _, v in planned}


def test_dmarc_that_is_not_even_raw_is_not_imported(tmp_path: Path) -> None:
    root = copy_tree(ARTICLE, tmp_path / "root")
    zone = root / "var/named/zone.unixbox.fr"
    zone.write_text(zone.read_text().replace("v=DMARC1; p=none", "V=DMARC1; p=none"))
    found = read_dns(root, ["/var/named/zone.unixbox.fr"], None, False)
    assert "dmarc" not in found.domains["unixbox.fr"]
    (note,) = notes_of(found, "not-imported")
    assert "not even as raw" in note.why and note.where.endswith("_dmarc.unixbox.fr")
    # and the domain without its DMARC gets the default's: said too
    assert any(n.what == "no _dmarc.unixbox.fr TXT" for n in notes_of(found, "changed"))


# -- live DNS through a real named -----------------------------------------------------------


class _NoTransfer(NamedServer):
    def named_conf(self) -> str:
        return (
            super()
            .named_conf()
            .replace("allow-transfer { 127.0.0.1; };", "allow-transfer { none; };")
        )


def test_from_dns_by_axfr_matches_the_zone_file() -> None:
    zone = ARTICLE / "var/named/zone.slackbox.fr"
    with NamedServer([("slackbox.fr", zone)]) as named:
        live = read_live_dns(["slackbox.fr"], "127.0.0.1", named.port, timeout=3)
    files = read_dns(ARTICLE, ["/var/named/zone.slackbox.fr"], None, False)
    assert live.zones == files.zones
    assert live.domains == files.domains
    assert live.mail_hosts == files.mail_hosts
    assert live.dns_keys == files.dns_keys


def test_from_dns_without_axfr_queries_the_mail_names() -> None:
    zone = ARTICLE / "var/named/zone.slackbox.fr"
    with _NoTransfer([("slackbox.fr", zone)]) as named:
        live = read_live_dns(["slackbox.fr"], "127.0.0.1", named.port, timeout=3, selectors=["01"])
    files = read_dns(ARTICLE, ["/var/named/zone.slackbox.fr"], None, False)
    assert live.zones == []  # the zone's other records are unknown: no zone entry
    assert live.domains == files.domains
    assert live.mail_hosts == files.mail_hosts
    assert live.dns_keys == files.dns_keys
    (refused,) = [n for n in live.notes if "AXFR" in n.what]
    assert refused.kind == "not-imported"


def test_from_dns_with_no_server_reports_timeouts() -> None:
    from support.net import free_port

    live = read_live_dns(["slackbox.fr"], "127.0.0.1", free_port("127.0.0.1"), timeout=0.5)
    assert live.domains == {} and live.zones == []
    assert live.notes and all(n.kind == "not-imported" for n in live.notes)


def test_zone_files_become_the_bind_target_so_the_first_plan_compares_them() -> None:
    """Without targets.bind mailauth writes no zone at all, and the first plan's "no DNS
    record change" would prove nothing: the target names the files read (zone mode), or
    where the fragments go beside them (include mode); named.conf already has the zones."""
    zone_mode = read_dns(ARTICLE, [], "/etc/named.conf", False).targets["bind"]
    assert zone_mode == {"named_conf": None, "directory": "/var/named", "zone_file": "zone.{zone}"}
    include = read_dns(ARTICLE, [], "/etc/named.conf", True).targets["bind"]
    assert include == {"named_conf": None, "directory": "/var/named"}

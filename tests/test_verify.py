"""`mailauth verify` without a real name server: each kind of drift, include mode, the CLI.

The zones served here are the files `mailauth apply` wrote, parsed by dnspython and answered
either by a lookup function (for the comparison logic) or by a tiny UDP server in a thread
(for the command line: exit status, JSON, errors). tests/e2e/test_verify_named.py does the
same against a real named.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from typer.testing import CliRunner

from mailauth.compiler import driver
from mailauth.compiler.cli import app
from mailauth.compiler.lockfile import read_lock
from mailauth.compiler.verify import (
    Answer,
    DnsError,
    DnsLookup,
    Lookup,
    VerifyReport,
    as_json,
    as_text,
    expected_state,
    parse_nameserver,
    verify,
)

MOMENT = datetime(2026, 1, 18, 9, 0, tzinfo=UTC)

CONFIG = """\
version: 1
defaults:
  ttl: 3600
  spf: {mx: true, all: "-all"}
  dmarc: {p: quarantine}
  dkim:
    selectors:
      - {name: "s1", algorithm: rsa, bits: 1024}
mail_hosts:
  - {name: mail.example.org, ipv4: [192.0.2.25]}
zones:
  - name: example.org
    mode: zone
    ns: [ns1.example.org]
    soa: {rname: hostmaster@example.org}
    records:
      - {name: ns1, type: A, value: 192.0.2.53}
  - name: example.net
    mode: include
domains:
  - name: example.org
    dkim:
      selectors:
        - {name: "s1", algorithm: rsa, bits: 1024}
        - {name: "s0", algorithm: rsa, bits: 1024}
  - name: example.net
targets:
  bind: {directory: /var/named, named_conf: null}
  opendkim: {}
"""

# The hand-kept zone of example.net: its own records, then mailauth's fragment.
HAND_ZONE = """\
$ORIGIN example.net.
$TTL 3600
@ IN SOA ns1.example.net. hostmaster.example.net. 2026011801 7200 900 1209600 300
@ IN NS ns1.example.net.
ns1 IN A 192.0.2.54
@ IN TXT "google-site-verification=abc123"
"""


class Site:
    """mailauth.yaml applied to a root, and the zones a name server would serve from it."""

    def __init__(self, base: Path) -> None:
        self.config = base / "mailauth.yaml"
        self.root = base / "root"
        base.mkdir(parents=True, exist_ok=True)
        self.config.write_text(CONFIG)
        self.apply()
        # Rotate: s0 leaves the config (mailauth.lock keeps it) and the zone.
        self.config.write_text(
            CONFIG.replace('        - {name: "s0", algorithm: rsa, bits: 1024}\n', "")
        )
        self.apply()
        self.texts = {
            "example.org": (self.root / "var/named/zone.example.org").read_text(),
            "example.net": HAND_ZONE
            + (self.root / "var/named/mailauth.example.net.inc").read_text(),
        }

    def apply(self) -> None:
        job = driver.open_job(self.config, self.root, None)
        assert driver.apply(job, lambda _plan: True, now=MOMENT) is not None

    def job(self) -> driver.Job:
        return driver.open_job(self.config, self.root, None)

    def zones(self, edits: dict[str, list[tuple[str, str]]] | None = None) -> list[dns.zone.Zone]:
        out = []
        for name, text in self.texts.items():
            for old, new in (edits or {}).get(name, []):
                assert old in text, f"{old!r} not in the zone of {name}"
                text = text.replace(old, new)
            out.append(dns.zone.from_text(text, origin=name, relativize=False))
        return out

    def report(self, edits: dict[str, list[tuple[str, str]]] | None = None) -> VerifyReport:
        model, lock = expected_state(self.job())
        return verify(model, lock, zone_lookup(self.zones(edits)), "test")


def zone_lookup(zones: list[dns.zone.Zone], authoritative: bool = True) -> Lookup:
    def lookup(name: str, rdtype: str) -> Answer:
        qname = dns.name.from_text(name)
        for zone in zones:
            assert zone.origin is not None
            if qname.is_subdomain(zone.origin):
                rdataset = zone.get_rdataset(qname, rdtype)
                if rdataset is None:
                    return Answer(authoritative=authoritative)
                return Answer(tuple(rdataset), rdataset.ttl, authoritative)
        return Answer(refused=True)

    return lookup


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return Site(tmp_path_factory.mktemp("verify"))


def kinds(report: VerifyReport) -> list[tuple[str, str, str]]:
    return [(f.kind, f.name, f.type) for f in report.findings]


def dkim_line(site: Site, selector: str = "s1") -> str:
    return next(
        line for line in site.texts["example.org"].splitlines() if line.startswith(selector + ".")
    )


# --- the comparison -------------------------------------------------------------------------


def test_applied_zones_are_in_sync(site: Site) -> None:
    report = site.report()
    assert report.in_sync, as_text(report)
    checked = {d.domain: d.checked for d in report.domains}
    assert checked["example.org"] >= 7 and checked["example.net"] >= 4, checked
    assert "In sync" in as_text(report)


def test_missing_record(site: Site) -> None:
    report = site.report({"example.org": [("IN MX    10 mail.example.org.", "IN A 192.0.2.99")]})
    assert ("missing", "example.org.", "MX") in kinds(report)


def test_different_dmarc_value(site: Site) -> None:
    report = site.report({"example.org": [("p=quarantine", "p=none")]})
    assert kinds(report) == [("different", "_dmarc.example.org.", "TXT")]
    (finding,) = report.findings
    assert finding.expected == ("v=DMARC1; p=quarantine",)
    assert finding.published == ("v=DMARC1; p=none",)


def test_second_spf_record_is_extra(site: Site) -> None:
    extra = '"v=spf1 mx -all"\n@ IN TXT "v=spf1 a include:_spf.example.com ~all"'
    report = site.report({"example.org": [('"v=spf1 mx -all"', extra)]})
    assert kinds(report) == [("extra", "example.org.", "TXT")]
    assert "permerror" in report.findings[0].message


def test_include_mode_ignores_foreign_txt_but_not_a_second_spf(site: Site) -> None:
    assert site.report().in_sync, "the hand zone's verification token is not drift"
    second = '"google-site-verification=abc123"\n@ IN TXT "v=spf1 -all"'
    report = site.report({"example.net": [('"google-site-verification=abc123"', second)]})
    assert kinds(report) == [("extra", "example.net.", "TXT")]
    assert report.findings[0].published and "v=spf1 -all" in report.findings[0].published


def test_stale_selector_still_published(site: Site) -> None:
    lock = read_lock(site.config.parent / "mailauth.lock")
    assert ("example.org", "s0") in lock, "rotation keeps the old selector in the lock"
    stale = f's0._domainkey IN TXT "v=DKIM1; k=rsa; p={lock[("example.org", "s0")].public_key}"'
    report = site.report({"example.org": [("; DMARC", stale + "\n; DMARC")]})
    assert kinds(report) == [("stale-selector", "s0._domainkey.example.org.", "TXT")]
    assert "'s0'" in report.findings[0].message


def test_dkim_key_not_the_lock_key(site: Site) -> None:
    lock = read_lock(site.config.parent / "mailauth.lock")
    s1 = lock[("example.org", "s1")].public_key
    other = lock[("example.net", "s1")].public_key
    report = site.report({"example.org": [(s1, other)]})
    assert kinds(report) == [("dkim-key", "s1._domainkey.example.org.", "TXT")]
    message = report.findings[0].message
    assert lock[("example.org", "s1")].fingerprint in message
    assert lock[("example.net", "s1")].fingerprint in message


def test_dkim_record_with_other_tags_is_different(site: Site) -> None:
    report = site.report({"example.org": [("v=DKIM1; k=rsa;", "v=DKIM1; k=rsa; t=y;")]})
    assert kinds(report) == [("different", "s1._domainkey.example.org.", "TXT")]


def test_ttl_counts_only_in_authoritative_answers(site: Site) -> None:
    edits = {"example.org": [("_dmarc ", "_dmarc 60 ")]}
    assert kinds(site.report(edits)) == [("different", "_dmarc.example.org.", "TXT")]
    model, lock = expected_state(site.job())
    cached = verify(model, lock, zone_lookup(site.zones(edits), authoritative=False))
    assert cached.in_sync, "a caching resolver counts TTLs down"


def test_every_kind_at_once_and_as_json(site: Site) -> None:
    lock = read_lock(site.config.parent / "mailauth.lock")
    s0 = lock[("example.org", "s0")].public_key
    report = site.report(
        {
            "example.org": [
                ("p=quarantine", "p=reject"),
                ("; DMARC", f's0._domainkey IN TXT "v=DKIM1; k=rsa; p={s0}"\n; DMARC'),
            ],
            "example.net": [('"google-site-verification=abc123"', '"v=spf1 -all"')],
        }
    )
    doc = json.loads(as_json(report))
    assert doc["format_version"] == 1 and doc["kind"] == "mailauth-verify"
    assert doc["in_sync"] is False
    assert doc["summary"]["different"] == 1 and doc["summary"]["stale-selector"] == 1
    by_domain = {d["domain"]: d for d in doc["domains"]}
    assert [f["kind"] for f in by_domain["example.org"]["findings"]] == [
        "different",
        "stale-selector",
    ]
    assert [f["kind"] for f in by_domain["example.net"]["findings"]] == ["extra"]
    text = as_text(report)
    assert "Drift: 3 problems in 2 domains" in text


def test_a_refusing_server_is_an_error_not_drift(site: Site) -> None:
    model, lock = expected_state(site.job())
    with pytest.raises(DnsError, match="refused"):
        verify(model, lock, lambda name, rdtype: Answer(refused=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5300", ("::1", 5300)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["ns1.example.org", "127.0.0.1:0", "127.0.0.1:x", "[::1", "1.2.3"])
def test_parse_nameserver_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


# --- the command line, against a small DNS server in a thread ---------------------------


class TinyDns:
    """Answers UDP queries from dnspython zones; ``silent`` never answers (timeouts), nor
    does it for a name in one of the ``drop`` zones. A name in none of its zones: REFUSED."""

    def __init__(
        self, zones: list[dns.zone.Zone], *, silent: bool = False, drop: tuple[str, ...] = ()
    ) -> None:
        self.zones = zones
        self.silent = silent
        self.drop = [dns.name.from_text(z) for z in drop]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        question = query.question[0]
        for zone in self.zones:
            assert zone.origin is not None
            if question.name.is_subdomain(zone.origin):
                response.flags |= dns.flags.AA
                node = zone.get_node(question.name)
                if node is None:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                    break
                rdataset = node.get_rdataset(question.rdclass, question.rdtype)
                if rdataset is not None:
                    response.answer.append(
                        dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset))
                    )
                break
        else:
            response.set_rcode(dns.rcode.REFUSED)
        return response.to_wire()

    def serve(self) -> None:
        while not self.done.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            if self.silent:
                continue
            question = dns.message.from_wire(wire).question[0].name
            if not any(question.is_subdomain(z) for z in self.drop):
                self.sock.sendto(self.answer(wire), peer)

    def __enter__(self) -> TinyDns:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def served(site: Site) -> Iterator[TinyDns]:
    with TinyDns(site.zones()) as server:
        yield server


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, [str(a) for a in args], env={"NO_COLOR": "1"}, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_in_sync_exits_0(site: Site, served: TinyDns) -> None:
    ns = f"127.0.0.1:{served.port}"
    code, out, err = cli("verify", "-c", site.config, "--root", site.root, "--nameserver", ns)
    assert code == 0, out + err
    assert f"In sync: DNS publishes what mailauth.yaml says (asked {ns})." in out
    code, out, _ = cli(
        "verify", "-c", site.config, "--root", site.root, "--nameserver", ns, "--quiet"
    )
    assert code == 0 and out.count("\n") == 1


def test_cli_drift_exits_2_with_json(site: Site) -> None:
    zones = site.zones({"example.org": [("p=quarantine", "p=none")]})
    with TinyDns(zones) as server:
        code, out, err = cli(
            "verify", "-c", site.config, "--root", site.root,
            "--nameserver", f"127.0.0.1:{server.port}", "--format", "json",
        )  # fmt: skip
    assert code == 2, out + err
    doc = json.loads(out)
    assert doc["in_sync"] is False and doc["summary"]["different"] == 1


def test_cli_without_lock_or_keys_uses_what_it_has(site: Site, served: TinyDns) -> None:
    """A CI runner has the lock but no private keys: verify needs only the public halves."""
    ns = f"127.0.0.1:{served.port}"
    empty = site.root.parent / "no-keys-root"
    code, out, err = cli("verify", "-c", site.config, "--root", empty, "--nameserver", ns)
    assert code == 0, out + err


def test_cli_timeout_is_an_error(site: Site) -> None:
    with TinyDns(site.zones(), silent=True) as server:
        code, out, err = cli(
            "verify", "-c", site.config, "--root", site.root,
            "--nameserver", f"127.0.0.1:{server.port}", "--timeout", "0.2",
        )  # fmt: skip
    assert code == 1
    assert "error: no answer for" in err and "nothing was decided" in err
    assert out == ""


def test_cli_bad_nameserver_is_an_error(site: Site) -> None:
    code, _, err = cli("verify", "-c", site.config, "--nameserver", "dns.example.org")
    assert code == 1
    assert "not an IP address" in err


def test_cli_missing_lock_is_an_error(site: Site, tmp_path: Path) -> None:
    config = tmp_path / "mailauth.yaml"
    config.write_text(site.config.read_text())
    code, _, err = cli(
        "verify", "-c", config, "--root", tmp_path / "r", "--nameserver", "127.0.0.1"
    )
    assert code == 1
    assert "mailauth.lock" in err and "is missing" in err


def test_lookup_falls_back_to_tcp_and_next_server(site: Site, served: TinyDns) -> None:
    with TinyDns(site.zones(), silent=True) as dead:
        lookup = DnsLookup([("127.0.0.1", dead.port), ("127.0.0.1", served.port)], timeout=0.2)
        answer = lookup("_dmarc.example.org.", "TXT")
    assert answer.authoritative
    assert [b"".join(r.strings) for r in answer.values] == [b"v=DMARC1; p=quarantine"]  # type: ignore[attr-defined]
    assert answer.values[0].rdtype == dns.rdatatype.TXT


# --- at scale: some zones only, a zone refused or silent ------------------------------------


def verify_cli(site: Site, port: int, *args: str) -> tuple[int, str, str]:
    return cli(
        "verify", "-c", site.config, "--root", site.root,
        "--nameserver", f"127.0.0.1:{port}", "--timeout", "0.3", *args,
    )  # fmt: skip


def test_a_refused_zone_is_reported_and_the_others_still_checked(site: Site) -> None:
    """The server serves example.org (with a drift) and refuses example.net."""
    org = [z for z in site.zones({"example.org": [("p=quarantine", "p=none")]})]
    with TinyDns([z for z in org if str(z.origin) == "example.org."]) as server:
        code, out, err = verify_cli(site, server.port)
        assert code == 1, out + err
        assert "example.net: not checked (refused): the name server refused" in out
        assert "different" in out and "Drift: 1 problem in 1 domain" in out
        assert "Not checked: 1 zone (example.net) (asked" in out
        code, out, _ = verify_cli(site, server.port, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["zones"] == [
        {
            "zone": "example.net",
            "status": "refused",
            "message": "the name server refused example.net. MX (does it serve this zone?)",
        },
        {"zone": "example.org", "status": "checked", "message": None},
    ]
    by_domain = {d["domain"]: d for d in doc["domains"]}
    assert by_domain["example.net"]["status"] == "refused"
    assert by_domain["example.org"]["status"] == "checked"
    assert by_domain["example.org"]["findings"][0]["kind"] == "different"
    assert doc["summary"]["unchecked_zones"] == 1 and doc["complete"] is False


def test_a_silent_zone_times_out_once_and_the_others_are_in_sync(site: Site) -> None:
    with TinyDns(site.zones(), drop=("example.net",)) as server:
        code, out, err = verify_cli(site, server.port)
    assert code == 1, out + err
    assert "example.net: not checked (timeout): no answer for" in out
    assert "example.org: in sync" in out
    assert "Not checked: 1 zone (example.net); 1 zone checked, in sync" in out


def test_a_failing_zone_is_left_at_its_first_failure(site: Site) -> None:
    """At scale a dead zone must cost one timeout, not one per record set."""
    model, lock = expected_state(site.job())
    served = zone_lookup(site.zones())
    asked: list[str] = []

    def lookup(name: str, rdtype: str) -> Answer:
        if name.lower().endswith("example.net."):
            asked.append(name)
            raise DnsError(f"no answer for {name} {rdtype}", "timeout")
        return served(name, rdtype)

    report = verify(model, lock, lookup)
    assert len(asked) == 1
    assert [(z.zone, z.status) for z in report.unchecked] == [("example.net", "timeout")]
    assert report.exit_code == 1 and not report.findings


def test_zone_option_limits_verify(site: Site) -> None:
    org = [z for z in site.zones() if str(z.origin) == "example.org."]
    with TinyDns(org) as server:  # example.net would be refused: it is not asked
        code, out, err = verify_cli(site, server.port, "--zone", "EXAMPLE.org.")
    assert code == 0, out + err
    assert "example.org: in sync" in out and "example.net" not in out


def test_unknown_zone_lists_the_known_ones(site: Site) -> None:
    code, out, err = cli(
        "verify", "-c", site.config, "--root", site.root, "--nameserver", "127.0.0.1:9",
        "--zone", "example.org", "--zone", "exmaple.net",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert (
        "--zone: exmaple.net: not a zone of mailauth.yaml; its zones: example.net, example.org"
        in err
    )

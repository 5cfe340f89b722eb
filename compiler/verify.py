"""``mailauth verify``: is what DNS serves still what mailauth.yaml says?

Every record set of the model is asked for, by owner and type, and compared with the
answer as a set of values (TXT as whole text, other types in canonical form, so case and
the splitting of long TXT into strings do not matter). What it reports, per domain:

* ``missing``: a record set, or some of its values, is not published;
* ``different``: published, but with other values (or, from an authoritative server,
  another TTL);
* ``extra``: values published beside the expected ones. In a zone mailauth owns (zone
  mode) every other value counts; in an include-mode zone, whose file holds records
  mailauth does not know, only SPF, DMARC and DKIM records count: a second SPF record at
  the apex, say, which makes receivers fail SPF with a permerror (RFC 7208 4.5);
* ``stale-selector``: a selector that mailauth.lock remembers but mailauth.yaml no longer
  has, still published;
* ``dkim-key``: a DKIM record whose ``p=`` is not the public key recorded in
  mailauth.lock (or, for a key not in the lock, the key mailauth knows).

No private key is needed: public keys come from the lock file (or from keys under
``--root`` when present), as on a CI runner. Exit status: 0 in sync, 2 drift, 1 error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.TXT import TXT

from mailauth.backends.zonefile import split_txt
from mailauth.compiler.driver import Job, prepare
from mailauth.compiler.lockfile import Lock
from mailauth.compiler.model import DkimKey, MailModel, Record, ZoneModel
from mailauth.compiler.wording import count as counted
from mailauth.schema.errors import MailauthError
from mailauth.schema.names import longest_suffix, norm, parse_nameserver

VERIFY_FORMAT_VERSION = 1

Kind = Literal["missing", "different", "extra", "stale-selector", "dkim-key"]
KINDS: tuple[Kind, ...] = ("missing", "different", "extra", "stale-selector", "dkim-key")


class DnsError(MailauthError):
    """DNS gave no usable answer (timeout, SERVFAIL, REFUSED...): verify cannot decide."""


@dataclass(frozen=True)
class Answer:
    """The record set found for one question; empty for NXDOMAIN or no data."""

    values: tuple[dns.rdata.Rdata, ...] = ()
    ttl: int | None = None
    authoritative: bool = False
    refused: bool = False


Lookup = Callable[[str, str], Answer]


@dataclass(frozen=True)
class Drift:
    """One record set whose published values differ from the expected ones (``kind``)."""

    kind: Kind
    name: str
    type: str
    expected: tuple[str, ...]
    published: tuple[str, ...]
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "type": self.type,
            "expected": list(self.expected),
            "published": list(self.published),
            "message": self.message,
        }


@dataclass
class DomainResult:
    domain: str
    checked: int = 0
    findings: list[Drift] = field(default_factory=list)


@dataclass
class VerifyReport:
    nameserver: str
    domains: list[DomainResult]
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Drift]:
        return [f for d in self.domains for f in d.findings]

    @property
    def in_sync(self) -> bool:
        return not self.findings


# --- asking DNS -----------------------------------------------------------------------------


class DnsLookup:
    """Ask the given servers (in order, the next one on a timeout) over UDP, TCP if truncated."""

    def __init__(self, servers: Iterable[tuple[str, int]], timeout: float = 3.0) -> None:
        self.servers = list(servers)
        if not self.servers:
            raise DnsError("no name server to ask")
        self.timeout = timeout

    def __call__(self, name: str, rdtype: str) -> Answer:
        qname = dns.name.from_text(name)
        request = dns.message.make_query(qname, rdtype, use_edns=0, payload=4096)
        problems: list[str] = []
        for address, port in self.servers:
            try:
                response = dns.query.udp(request, address, timeout=self.timeout, port=port)
                if response.flags & dns.flags.TC:
                    response = dns.query.tcp(request, address, timeout=self.timeout, port=port)
            except (dns.exception.DNSException, OSError) as exc:
                problems.append(f"{address}:{port}: {exc or type(exc).__name__}")
                continue
            rcode = response.rcode()
            authoritative = bool(response.flags & dns.flags.AA)
            if rcode == dns.rcode.NXDOMAIN:
                return Answer(authoritative=authoritative)
            if rcode == dns.rcode.REFUSED:
                return Answer(refused=True)
            if rcode != dns.rcode.NOERROR:
                problems.append(f"{address}:{port}: answered {dns.rcode.to_text(rcode)}")
                continue
            rrset = response.get_rrset(
                response.answer, qname, dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
            )
            if rrset is None:
                return Answer(authoritative=authoritative)
            return Answer(tuple(rrset), rrset.ttl, authoritative)
        raise DnsError(f"no answer for {name} {rdtype}: " + "; ".join(problems))


def system_nameservers() -> list[tuple[str, int]]:
    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration as exc:
        raise DnsError(f"no system resolver configured ({exc}); use --nameserver") from None
    return [(str(ns), int(resolver.port)) for ns in resolver.nameservers]


# --- comparing ------------------------------------------------------------------------------

_Key = bytes


def _key(rtype: str, rdata: dns.rdata.Rdata) -> _Key:
    if rtype == "TXT":
        return b"".join(rdata.strings)  # type: ignore[attr-defined]  # a TXT rdata has .strings
    return rdata.to_digestable()


def _show(rtype: str, rdata: dns.rdata.Rdata) -> str:
    if rtype == "TXT":
        return _key(rtype, rdata).decode("utf-8", "backslashreplace")
    return rdata.to_text()


def _expected_rdata(record: Record, zone: str) -> dns.rdata.Rdata:
    if record.type == "TXT":
        return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, split_txt(record.value))
    return dns.rdata.from_text(
        dns.rdataclass.IN,
        dns.rdatatype.from_text(record.type),
        record.value,
        origin=dns.name.from_text(zone),
        relativize=False,
    )


def _txt_kind(text: str) -> str | None:
    low = text.strip().lower()
    if low == "v=spf1" or low.startswith("v=spf1 "):
        return "spf"
    if low.startswith("v=dmarc1"):
        return "dmarc"
    if low.startswith("v=dkim1"):
        return "dkim"
    return None


def _dkim_p(text: str) -> str | None:
    """The ``p=`` tag of a DKIM key record, whitespace removed; None if there is none."""
    for tag in text.split(";"):
        name, sep, value = tag.partition("=")
        if sep and name.strip() == "p":
            return "".join(value.split())
    return None


def _fingerprint(public_b64: str) -> str:
    try:
        raw = base64.b64decode(public_b64, validate=True)
    except (binascii.Error, ValueError):
        return "(not base64)"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class _Checker:
    def __init__(self, model: MailModel, lock: Lock, lookup: Lookup) -> None:
        self.model = model
        self.lock = lock
        self.lookup = lookup
        self.results: dict[str, DomainResult] = {}
        self.domain_names = frozenset(norm(d.name) for d in model.domains)
        self.zone_names = frozenset(norm(z.name) for z in model.zones)
        self.keys: dict[str, DkimKey] = {
            f"{k.record_name}.".lower(): k for d in model.domains for k in d.keys
        }

    def domain_of(self, name: str, zone: str | None = None) -> str:
        """The longest domain ``name`` lies in, else the longest zone, else ``zone``."""
        key = norm(name)
        return (
            longest_suffix(key, self.domain_names)
            or longest_suffix(key, self.zone_names)
            or zone
            or name.rstrip(".")
        )

    def result(self, domain: str) -> DomainResult:
        return self.results.setdefault(domain, DomainResult(domain))

    def add(self, name: str, finding: Drift) -> None:
        self.result(self.domain_of(name)).findings.append(finding)

    def ask(self, name: str, rtype: str, *, refused_ok: bool = False) -> Answer:
        answer = self.lookup(name, rtype)
        if answer.refused and not refused_ok:
            raise DnsError(f"the name server refused {name} {rtype} (does it serve this zone?)")
        return answer

    # -- the records of the model ------------------------------------------------------------

    def check_zone(self, zone: ZoneModel) -> None:
        groups: dict[tuple[str, str], list[Record]] = {}
        for record in zone.records:
            groups.setdefault((record.fqdn(zone.name).lower(), record.type), []).append(record)
        for (name, rtype), records in groups.items():
            self.result(self.domain_of(name, zone.name)).checked += 1
            self.check_set(zone, name, rtype, records)

    def check_set(self, zone: ZoneModel, name: str, rtype: str, records: list[Record]) -> None:
        expected = {}
        for record in records:
            rdata = _expected_rdata(record, zone.name)
            expected[_key(rtype, rdata)] = _show(rtype, rdata)
        answer = self.ask(name, rtype)
        published = {_key(rtype, r): _show(rtype, r) for r in answer.values}
        missing = [k for k in expected if k not in published]
        # An include-mode zone holds records mailauth does not know: there, only mail
        # authentication records beside ours are extra.
        extra = [
            k
            for k in published
            if k not in expected
            and (
                zone.mode == "zone"
                or (rtype == "TXT" and ("._domainkey." in name or _txt_kind(published[k])))
            )
        ]
        want = tuple(expected.values())
        have = tuple(published.values())

        def finding(kind: Kind, message: str) -> Drift:
            return Drift(kind, name, rtype, want, have, message)

        if not published:
            self.add(name, finding("missing", f"{name} {rtype} is not published"))
            return
        if name in self.keys and rtype == "TXT" and missing:
            self.check_dkim(name, want, have)
            return
        if missing and extra:
            self.add(name, finding("different", f"{name} {rtype} has other values"))
        elif missing:
            self.add(name, finding("missing", f"{name} {rtype}: some values are not published"))
        elif extra:
            self.add(name, finding("extra", self.extra_message(name, rtype, published, extra)))
        elif answer.authoritative and answer.ttl is not None:
            ttls = {r.ttl for r in records}
            if len(ttls) == 1 and answer.ttl not in ttls:
                ttl = ttls.pop()
                self.add(name, finding("different", f"{name} {rtype}: TTL {answer.ttl}, not {ttl}"))

    @staticmethod
    def extra_message(name: str, rtype: str, published: dict[_Key, str], extra: list[_Key]) -> str:
        kinds = {_txt_kind(published[k]) for k in extra} if rtype == "TXT" else set()
        if "spf" in kinds:
            return (
                f"{name} publishes more than one SPF record: receivers then fail SPF with a "
                "permerror (RFC 7208 4.5); remove the extra one"
            )
        if "dmarc" in kinds:
            return f"{name} publishes more than one DMARC record: receivers then ignore DMARC"
        return f"{name} {rtype} has values that mailauth.yaml does not have"

    def check_dkim(self, name: str, want: tuple[str, ...], have: tuple[str, ...]) -> None:
        key = self.keys[name]
        entry = self.lock.get((key.domain, key.selector))
        reference = entry.public_key if entry is not None else key.public_key
        source = "mailauth.lock" if entry is not None else "mailauth.yaml"
        published_keys = [_dkim_p(text) for text in have]
        if reference is not None and any(p != "".join(reference.split()) for p in published_keys):
            shown = ", ".join(_fingerprint(p) if p else "(no p= tag)" for p in published_keys)
            message = (
                f"{name}: the published DKIM key ({shown}) is not the key in {source} "
                f"({_fingerprint(''.join(reference.split()))}); mail signed by the mail host "
                "fails DKIM"
            )
            self.add(name, Drift("dkim-key", name, "TXT", want, have, message))
            return
        message = f"{name}: the DKIM record has other tags than mailauth.yaml says"
        self.add(name, Drift("different", name, "TXT", want, have, message))

    # -- what should not be there ------------------------------------------------------------

    def check_watch(self, asked: set[tuple[str, str]]) -> None:
        """SPF/DMARC records published where the model has none of that kind."""
        for domain in self.model.domains:
            for name, kind in ((f"{domain.name}.", "spf"), (f"_dmarc.{domain.name}.", "dmarc")):
                if (name.lower(), "TXT") in asked:
                    continue
                answer = self.ask(name, "TXT")
                have = tuple(_show("TXT", r) for r in answer.values)
                extra = tuple(v for v in have if _txt_kind(v) == kind)
                if extra:
                    message = f"{name} publishes a {kind.upper()} record not in mailauth.yaml"
                    self.add(name, Drift("extra", name, "TXT", (), have, message))

    def check_stale(self) -> None:
        in_model = {(k.domain, k.selector) for d in self.model.domains for k in d.keys}
        domains = {d.name for d in self.model.domains}
        for (domain, selector), entry in sorted(self.lock.items()):
            if (domain, selector) in in_model:
                continue
            name = f"{selector}._domainkey.{domain}."
            answer = self.ask(name, "TXT", refused_ok=domain not in domains)
            have = tuple(_show("TXT", r) for r in answer.values)
            if not have:
                continue
            message = (
                f"selector {selector!r} of {domain} is in mailauth.lock but no longer in "
                f"mailauth.yaml, and {name} still publishes it (key "
                f"{entry.fingerprint[:23]}…): remove the record once no mail signed with it "
                "is in flight"
            )
            self.add(name, Drift("stale-selector", name, "TXT", (), have, message))


def verify(model: MailModel, lock: Lock, lookup: Lookup, nameserver: str = "") -> VerifyReport:
    """Ask ``lookup`` for every record of ``model`` (and for what should be gone)."""
    checker = _Checker(model, lock, lookup)
    for domain in model.domains:
        checker.result(domain.name)
    asked: set[tuple[str, str]] = set()
    for zone in model.zones:
        checker.check_zone(zone)
        asked |= {(r.fqdn(zone.name).lower(), r.type) for r in zone.records}
    checker.check_watch(asked)
    checker.check_stale()
    domains = sorted(checker.results.values(), key=lambda d: d.domain)
    return VerifyReport(nameserver, domains, list(model.notes))


# --- output ---------------------------------------------------------------------------------


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def as_text(report: VerifyReport, *, colour: bool = False, quiet: bool = False) -> str:
    lines: list[str] = []
    if not quiet:
        for result in report.domains:
            if not result.findings:
                head = f"{result.domain}: in sync ({counted(result.checked, 'record set')} checked)"
                lines.append(_paint(head, "32", colour))
                continue
            head = (
                f"{result.domain}: {counted(len(result.findings), 'problem')} "
                f"({counted(result.checked, 'record set')} checked)"
            )
            lines.append(_paint(head, "31", colour))
            for f in result.findings:
                lines.append(f"  {_paint(f'{f.kind:<14}', '33', colour)} {f.message}")
                if f.expected:
                    lines.append("      expected:  " + _short(" | ".join(f.expected)))
                if f.published:
                    lines.append("      published: " + _short(" | ".join(f.published)))
        for note in report.notes:
            lines.append(f"note: {note}")
    count = len(report.findings)
    where = f" (asked {report.nameserver})" if report.nameserver else ""
    if count:
        touched = sum(1 for d in report.domains if d.findings)
        problems, domains = counted(count, "problem"), counted(touched, "domain")
        lines.append(f"Drift: {problems} in {domains}{where}.")
    else:
        lines.append(f"In sync: DNS publishes what mailauth.yaml says{where}.")
    return "\n".join(lines) + "\n"


def as_json(report: VerifyReport) -> str:
    findings = report.findings
    doc = {
        "format_version": VERIFY_FORMAT_VERSION,
        "kind": "mailauth-verify",
        "nameserver": report.nameserver,
        "in_sync": report.in_sync,
        "summary": {kind: sum(1 for f in findings if f.kind == kind) for kind in KINDS},
        "domains": [
            {
                "domain": d.domain,
                "in_sync": not d.findings,
                "checked": d.checked,
                "findings": [f.as_json() for f in d.findings],
            }
            for d in report.domains
        ],
        "notes": report.notes,
    }
    return json.dumps(doc, indent=2) + "\n"


def expected_state(job: Job) -> tuple[MailModel, Lock]:
    """The model as DNS should publish it, with public keys only (no signer, no new keys)."""
    today = datetime.now(UTC).date()
    model, keys = prepare(job, today, generate=False, signer=False, dns=True)
    notes = tuple(n for n in keys.notes if not n.startswith("keys."))
    model = replace(model, notes=(*notes, *model.notes))
    return model, job.inputs.lock.entries


def run_verify(job: Job, nameserver: str | None, *, timeout: float = 3.0) -> VerifyReport:
    """The ``verify`` command's work: the report, which the CLI prints (0 in sync, 2 drift).

    Prints nothing. Raises a MailauthError when nothing could be decided: the file does
    not build, the name server option is wrong, DNS gives no usable answer.
    """
    model, lock = expected_state(job)
    try:
        servers = [parse_nameserver(nameserver)] if nameserver else system_nameservers()
    except ValueError as exc:
        raise MailauthError(f"--nameserver {exc}") from None
    shown = ", ".join(f"{a}:{p}" if p != 53 else a for a, p in servers)
    try:
        return verify(model, lock, DnsLookup(servers, timeout), shown)
    except DnsError as exc:
        raise DnsError(f"{exc}; nothing was decided") from None

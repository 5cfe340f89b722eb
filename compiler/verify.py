"""``mailauth verify``: is what DNS serves still what mailauth.yaml says?

Every record set of the model is asked for, by owner and type, and compared with the
answer as a set of values (TXT as whole text, other types in canonical form, so case and
the splitting of long TXT into strings do not matter). What it reports, per domain:

* ``missing``: a record set, or some of its values, is not published;
* ``different``: published, but with other values (or, from an authoritative server,
  another TTL);
* ``extra``: values published beside the expected ones. In a zone mailauth owns (zone
  mode) every other value counts; in an include-mode zone, whose file holds records
  mailauth does not know, only SPF, DMARC, DKIM, TLS-RPT and BIMI records count: a second
  SPF record at the apex, say, which makes receivers fail SPF with a permerror (RFC 7208 4.5);
* ``stale-selector``: a selector that mailauth.lock remembers but mailauth.yaml no longer
  has, still published;
* ``dkim-key``: a DKIM record whose ``p=`` is not the public key recorded in
  mailauth.lock (or, for a key not in the lock, the key mailauth knows).

No private key is needed: public keys come from the lock file (or from keys under
``--root`` when present), as on a CI runner. ``--zone`` limits the check to some zones.
A zone whose server refuses it or does not answer is reported as not checked, and the
other zones are still checked. Exit status: 0 in sync, 2 drift, 1 error (a zone not
checked included).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
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
from mailauth.compiler.lockfile import Lock, LockEntry
from mailauth.compiler.model import DkimKey, DomainModel, MailModel, Record, ZoneModel
from mailauth.compiler.wording import count as counted
from mailauth.schema.errors import ConfigError, MailauthError, Problem
from mailauth.schema.names import longest_suffix, norm, parse_nameserver

VERIFY_FORMAT_VERSION = 1
#: An unknown ``--zone`` lists the known zones, this many at most.
KNOWN_SHOWN = 20

Kind = Literal["missing", "different", "extra", "stale-selector", "dkim-key"]
KINDS: tuple[Kind, ...] = ("missing", "different", "extra", "stale-selector", "dkim-key")


#: How a zone fared: ``checked``, or why it could not be (the server refused the zone,
#: every server timed out, or answered something unusable such as SERVFAIL).
Status = Literal["checked", "refused", "timeout", "failed"]


class DnsError(MailauthError):
    """DNS gave no usable answer (timeout, SERVFAIL, REFUSED...): verify cannot decide.

    ``status`` says which (see ``Status``); verify reports it for the zone asked about and
    goes on with the other zones."""

    def __init__(self, message: str, status: Status = "failed") -> None:
        super().__init__(message)
        self.status: Status = status


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
    zone: str | None = None  # the zone of the model it lies in (None: in none of them)


@dataclass(frozen=True)
class ZoneResult:
    """One zone of the model: checked, or why not (``message`` says what DNS did)."""

    zone: str
    status: Status = "checked"
    message: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"zone": self.zone, "status": self.status, "message": self.message or None}


@dataclass
class VerifyReport:
    nameserver: str
    domains: list[DomainResult]
    notes: list[str] = field(default_factory=list)
    zones: list[ZoneResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Drift]:
        return [f for d in self.domains for f in d.findings]

    @property
    def unchecked(self) -> list[ZoneResult]:
        """The zones DNS gave no usable answer for: nothing is known of them."""
        return [z for z in self.zones if z.status != "checked"]

    @property
    def in_sync(self) -> bool:
        return not self.findings and not self.unchecked

    @property
    def exit_code(self) -> int:
        """0 in sync; 2 drift in the zones checked; 1 when a zone could not be checked (an
        error, as when nothing could be: the drift of the others is reported all the same)."""
        if self.unchecked:
            return 1
        return 2 if self.findings else 0


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
        timeouts = 0
        for address, port in self.servers:
            try:
                response = dns.query.udp(request, address, timeout=self.timeout, port=port)
                if response.flags & dns.flags.TC:
                    response = dns.query.tcp(request, address, timeout=self.timeout, port=port)
            except dns.exception.Timeout:
                timeouts += 1
                problems.append(f"{address}:{port}: no answer within {self.timeout:g}s")
                continue
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
        status: Status = "timeout" if timeouts == len(problems) else "failed"
        raise DnsError(f"no answer for {name} {rdtype}: " + "; ".join(problems), status)


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
    if low.startswith("v=tlsrptv1"):
        return "tlsrpt"
    if low.startswith("v=bimi1"):
        return "bimi"
    if low.startswith("v=stsv1"):
        return "mta-sts"
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

    def zone_of(self, name: str) -> str | None:
        """The zone of the model ``name`` lies in (the longest), if any."""
        return longest_suffix(norm(name), self.zone_names)

    def result(self, domain: str) -> DomainResult:
        found = self.results.get(domain)
        if found is None:
            found = self.results[domain] = DomainResult(domain, zone=self.zone_of(domain))
        return found

    def add(self, name: str, finding: Drift) -> None:
        self.result(self.domain_of(name)).findings.append(finding)

    def ask(self, name: str, rtype: str, *, refused_ok: bool = False) -> Answer:
        answer = self.lookup(name, rtype)
        if answer.refused and not refused_ok:
            raise DnsError(
                f"the name server refused {name} {rtype} (does it serve this zone?)", "refused"
            )
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
        if "tlsrpt" in kinds:
            return (
                f"{name} publishes more than one TLS-RPT record: senders then send no TLS "
                "reports (RFC 8460 3)"
            )
        if "bimi" in kinds:
            return f"{name} publishes more than one BIMI record: receivers then show no logo"
        if "mta-sts" in kinds:
            return (
                f"{name} publishes more than one MTA-STS record: senders then use no policy "
                "(RFC 8461 3.1); remove the extra one"
            )
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

    def check_watch(self, asked: set[tuple[str, str]], domains: Iterable[DomainModel]) -> None:
        """SPF/DMARC records published where the model has none of that kind."""
        for domain in domains:
            for name, kind in ((f"{domain.name}.", "spf"), (f"_dmarc.{domain.name}.", "dmarc")):
                if (name.lower(), "TXT") in asked:
                    continue
                answer = self.ask(name, "TXT")
                have = tuple(_show("TXT", r) for r in answer.values)
                extra = tuple(v for v in have if _txt_kind(v) == kind)
                if extra:
                    message = f"{name} publishes a {kind.upper()} record not in mailauth.yaml"
                    self.add(name, Drift("extra", name, "TXT", (), have, message))

    def stale_entries(self) -> list[tuple[str, str, LockEntry]]:
        """The lock's selectors that mailauth.yaml no longer has: (domain, selector, entry)."""
        in_model = {(k.domain, k.selector) for d in self.model.domains for k in d.keys}
        return [
            (domain, selector, entry)
            for (domain, selector), entry in sorted(self.lock.items())
            if (domain, selector) not in in_model
        ]

    def check_stale(self, entries: Iterable[tuple[str, str, LockEntry]]) -> None:
        domains = {d.name for d in self.model.domains}
        for domain, selector, entry in entries:
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


def select_zones(model: MailModel, wanted: Sequence[str] | None) -> list[ZoneModel]:
    """The zones of the model named in ``wanted`` (``--zone``; case and a final dot do not
    matter), all of them when None. An unknown name is an error that lists the known ones."""
    if wanted is None:
        return list(model.zones)
    by_name = {norm(z.name): z for z in model.zones}
    unknown = [w for w in wanted if norm(w) not in by_name]
    if unknown:
        known = sorted(z.name for z in model.zones)
        shown = ", ".join(known[:KNOWN_SHOWN])
        if len(known) > KNOWN_SHOWN:
            shown += f" (and {len(known) - KNOWN_SHOWN} more)"
        raise ConfigError(
            [
                Problem("--zone", name, f"not a zone of mailauth.yaml; its zones: {shown}")
                for name in unknown
            ]
        )
    chosen = {norm(w) for w in wanted}
    return [z for z in model.zones if norm(z.name) in chosen]


def verify(
    model: MailModel,
    lock: Lock,
    lookup: Lookup,
    nameserver: str = "",
    zones: Sequence[str] | None = None,
) -> VerifyReport:
    """Ask ``lookup`` for every record of ``model`` (and for what should be gone), zone by
    zone: only the zones named in ``zones`` when given (``select_zones``).

    A zone that DNS gives no usable answer for (REFUSED, a timeout, SERVFAIL) is reported
    as such (``ZoneResult``) at its first such answer, and the other zones are still
    checked: one server that does not serve a zone, among hundreds it does, says so and
    costs one timeout, not one per record. When no zone at all could be checked, the
    server itself is the likely problem: a DnsError, as before any zone was asked.
    """
    selected = select_zones(model, zones)
    checker = _Checker(model, lock, lookup)
    names = {norm(z.name) for z in selected}
    domains = [d for d in model.domains if norm(d.zone) in names]
    for domain in domains:
        checker.result(domain.name)
    # Every record set the model has, in any zone: check_watch asks only for the others.
    asked = {(r.fqdn(z.name).lower(), r.type) for z in model.zones for r in z.records}
    # Grouped once by zone: at thousands of zones, a scan per zone would cost their square.
    domains_of: dict[str, list[DomainModel]] = {}
    for domain in domains:
        domains_of.setdefault(norm(domain.zone), []).append(domain)
    stale_of: dict[str | None, list[tuple[str, str, LockEntry]]] = {}
    for entry in checker.stale_entries():
        stale_of.setdefault(checker.zone_of(entry[0]), []).append(entry)
    outcomes: list[ZoneResult] = []
    for zone in selected:
        key = norm(zone.name)
        try:
            checker.check_zone(zone)
            checker.check_watch(asked, domains_of.get(key, []))
            checker.check_stale(stale_of.get(key, []))
        except DnsError as exc:
            outcomes.append(ZoneResult(zone.name, exc.status, str(exc)))
            continue
        outcomes.append(ZoneResult(zone.name))
    notes = list(model.notes)
    if zones is None:
        # Selectors of domains in none of the model's zones (a zone dropped with its
        # domain): asked for, but a failure there is only a note.
        try:
            checker.check_stale(stale_of.get(None, []))
        except DnsError as exc:
            notes.append(f"stale selectors outside the zones of mailauth.yaml not checked: {exc}")
    if outcomes and all(o.status != "checked" for o in outcomes):
        if len(outcomes) == 1:
            raise DnsError(outcomes[0].message, outcomes[0].status)
        first = outcomes[0]
        raise DnsError(
            f"{first.message}; none of the {len(outcomes)} zones could be checked "
            f"({first.zone} first)",
            first.status,
        )
    results = sorted(checker.results.values(), key=lambda d: d.domain)
    return VerifyReport(nameserver, results, notes, outcomes)


# --- output ---------------------------------------------------------------------------------


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


#: The zones a summary line names before it says "and N more".
ZONES_NAMED = 5


def _zone_status(report: VerifyReport) -> dict[str, ZoneResult]:
    return {norm(z.zone): z for z in report.zones}


def as_text(report: VerifyReport, *, colour: bool = False, quiet: bool = False) -> str:
    lines: list[str] = []
    failed = {k: z for k, z in _zone_status(report).items() if z.status != "checked"}
    if not quiet:
        for zone in failed.values():
            head = f"{zone.zone}: not checked ({zone.status}): {zone.message}"
            lines.append(_paint(head, "31", colour))
        for result in report.domains:
            if result.zone in failed and not result.findings:
                continue  # the line of its zone says it was not checked
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
    elif not failed:
        lines.append(f"In sync: DNS publishes what mailauth.yaml says{where}.")
    if failed:
        names = [z.zone for z in failed.values()]
        shown = ", ".join(names[:ZONES_NAMED])
        if len(names) > ZONES_NAMED:
            shown += f" and {len(names) - ZONES_NAMED} more"
        others = len(report.zones) - len(names)
        rest = "" if count else f"; {counted(others, 'zone')} checked, in sync"
        lines.append(f"Not checked: {counted(len(names), 'zone')} ({shown}){rest}{where}.")
    return "\n".join(lines) + "\n"


def as_json(report: VerifyReport) -> str:
    findings = report.findings
    status = _zone_status(report)

    def domain_status(result: DomainResult) -> str:
        zone = status.get(result.zone) if result.zone is not None else None
        return zone.status if zone is not None else "checked"

    summary: dict[str, int] = {kind: sum(1 for f in findings if f.kind == kind) for kind in KINDS}
    summary["unchecked_zones"] = len(report.unchecked)
    doc = {
        "format_version": VERIFY_FORMAT_VERSION,
        "kind": "mailauth-verify",
        "nameserver": report.nameserver,
        "in_sync": report.in_sync,
        "complete": not report.unchecked,
        "summary": summary,
        "zones": [z.as_json() for z in report.zones],
        "domains": [
            {
                "domain": d.domain,
                "status": domain_status(d),
                "in_sync": not d.findings and domain_status(d) == "checked",
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


def run_verify(
    job: Job,
    nameserver: str | None,
    *,
    timeout: float = 3.0,
    zones: Sequence[str] | None = None,
) -> VerifyReport:
    """The ``verify`` command's work: the report, which the CLI prints (exit status:
    ``VerifyReport.exit_code``). ``zones`` (``--zone``) limits it to those zones.

    Prints nothing. Raises a MailauthError when nothing could be decided: the file does
    not build, the name server option or a zone name is wrong, DNS gives no usable answer
    for any zone.
    """
    model, lock = expected_state(job)
    select_zones(model, zones)  # an unknown --zone before any question is asked
    try:
        servers = [parse_nameserver(nameserver)] if nameserver else system_nameservers()
    except ValueError as exc:
        raise MailauthError(f"--nameserver {exc}") from None
    shown = ", ".join(f"{a}:{p}" if p != 53 else a for a, p in servers)
    try:
        return verify(model, lock, DnsLookup(servers, timeout), shown, zones)
    except DnsError as exc:
        raise DnsError(f"{exc}; nothing was decided", exc.status) from None

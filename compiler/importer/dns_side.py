"""The DNS side of ``mailauth import``: hand-kept BIND zones (or live DNS) read into
``zones:``, ``domains:`` and ``mail_hosts:``.

The mail records (MX, SPF, DMARC, DKIM) become a domain's fields, the addresses of the MX
hosts become mail hosts, and every other record of a zone stays what it was, as a zone's
``records:`` (zone mode) or in the hand-kept file (include mode). The aim is the issue's
promise: the first plan after an import changes no DNS record. Where the schema cannot say
exactly what the zone says, a ``Note`` tells the user what differs, and why.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import dns.exception
import dns.message
import dns.name
import dns.node
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataset
import dns.rdatatype
import dns.resolver
import dns.xfr
import dns.zone
from pydantic import ValidationError

from mailauth.backends.zonefile import split_txt
from mailauth.compiler.importer.found import Found, Note, Yaml
from mailauth.compiler.importer.mail_records import (
    Unparsed,
    is_dmarc,
    is_spf,
    parse_dkim,
    parse_dmarc,
    parse_spf,
)
from mailauth.compiler.importer.named_conf import read_named_conf
from mailauth.compiler.importer.rooted import OutsideRoot, under_root
from mailauth.compiler.importer.zone_reader import ReadZone, ZoneReadError, read_zone
from mailauth.schema import names
from mailauth.schema.models import Dmarc, ExtraRecord, Spf
from mailauth.schema.rrtypes import EXTRA_TYPES

__all__ = ["ZoneReadError", "read_dns", "read_live_dns"]

_ORIGIN = re.compile(r"^\$ORIGIN[ \t]+(\S+)", re.I | re.M)
_FILE_ZONE = re.compile(r"^(?:db\.|zone\.)?(?P<name>.+?)(?:\.zone|\.db|\.hosts)?$")
TXT = dns.rdatatype.TXT

# ----------------------------------------------------------------------------- entry points


def read_dns(
    root: Path, zone_files: Sequence[str], named_conf: str | None, include_mode: bool
) -> Found:
    """The zones named by ``named_conf`` and the files ``zone_files`` (host paths, read
    under ``root``). A zone file given alone is named by its first ``$ORIGIN``, else by
    its file name (``db.example.org``, ``zone.example.org``, ``example.org.zone``).

    Raises ZoneReadError (or named_conf.NamedConfError) naming the file and line.
    """
    notes: list[Note] = []
    read: list[ReadZone] = []
    if named_conf is not None:
        for zf in read_named_conf(root, named_conf, notes):
            read.append(read_zone(root, zf.name, zf.file, zf.directory))
    guessed: list[str] = []
    for file in zone_files:
        name, from_file_name = _zone_name(root, file)
        read.append(read_zone(root, name, file))
        if from_file_name:
            guessed.append(name)
    found = assemble([(rz.zone, rz.file, rz.default_ttl, rz) for rz in read], include_mode)
    found.notes[:0] = notes
    if read:
        _bind_target(read, include_mode, found)
    for name in guessed:
        key = f"zones.{name}"
        said = "the zone's name is its file's: the file has no $ORIGIN (check it)"
        found.comments[key] = f"{found.comments[key]}; {said}" if key in found.comments else said
    return found


def _bind_target(read: Sequence[ReadZone], include_mode: bool, found: Found) -> None:
    """``targets.bind`` where the zone files are: without it mailauth would write no zone (or
    fragment) at all, and the first plan's "no DNS record change" would prove nothing.

    Zone mode: ``directory`` and ``zone_file`` name the files read, so that the plan compares
    mailauth's zone with them. Include mode: the fragment goes beside the hand-kept files.
    ``named_conf`` is null: the host's named.conf already declares these zones."""
    dirs = {posixpath.dirname(rz.file) for rz in read}
    directory = dirs.pop() if len(dirs) == 1 else None
    templates = set()
    for rz in read:
        base = posixpath.basename(rz.file)
        zone = _text(_origin(rz.zone))
        head, sep, tail = base.partition(zone)
        templates.add(head + "{zone}" + tail if sep else None)
    template = templates.pop() if len(templates) == 1 else None
    bind: Yaml = {"named_conf": None}
    if directory is None or (template is None and not include_mode):
        found.notes.append(
            Note(
                ", ".join(rz.file for rz in read),
                "not-imported",
                "targets.bind directory and zone_file",
                "the zone files are not one directory and one name pattern: set "
                "targets.bind by hand, else mailauth writes the zones to its default paths",
            )
        )
    if directory is not None:
        bind["directory"] = directory
    if template is not None and not include_mode:
        bind["zone_file"] = template
    found.targets["bind"] = {**bind, **found.targets.get("bind", {})}
    found.comments["targets.bind"] = (
        "where the zone files are; named_conf null: named.conf already declares the zones"
    )


def read_live_dns(
    domains: Sequence[str],
    nameserver: str,
    port: int = 53,
    timeout: float = 3.0,
    selectors: Sequence[str] = (),
) -> Found:
    """Each domain's zone from the name server at ``nameserver:port``: by AXFR when it
    allows one (a zone-mode zone with all its records), otherwise by queries for the names
    mailauth manages (apex SOA, NS, MX, TXT; ``_dmarc``; the DKIM ``selectors``, which DNS
    cannot list; the MX hosts' addresses) and then no ``zones:`` entry, since the zone's
    other records are unknown. Refusals and timeouts become Notes."""
    found = Found()
    for domain in domains:
        name = names.norm(domain)
        try:
            zone = dns.zone.Zone(name + ".", relativize=False)
            dns.query.inbound_xfr(
                nameserver, zone, port=port, timeout=timeout, lifetime=timeout * 4
            )
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            found.notes.append(
                Note(
                    f"{nameserver}:{port}",
                    "not-imported",
                    f"zone {name} (AXFR)",
                    f"the transfer failed ({_why(exc)}): only the names mailauth manages "
                    "were queried, so the zone's other records are not in mailauth.yaml",
                )
            )
            part = _query_zone(name, nameserver, port, timeout, selectors, found.notes)
            if part is not None:
                one = assemble([(part, f"{nameserver}:{port}", None, None)], False, entry=False)
                found = found.merge(one)
            continue
        found = found.merge(assemble([(zone, f"{nameserver}:{port}", None, None)], False))
    return found


# ----------------------------------------------------------------------------- live queries


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."


def _query_zone(
    name: str,
    nameserver: str,
    port: int,
    timeout: float,
    selectors: Sequence[str],
    notes: list[Note],
) -> dns.zone.Zone | None:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [nameserver]
    res.port = port
    res.timeout = timeout
    res.lifetime = timeout * 2
    res.cache = None
    zone = dns.zone.Zone(name + ".", relativize=False)
    wanted = [(name, "SOA"), (name, "NS"), (name, "MX"), (name, "TXT"), (f"_dmarc.{name}", "TXT")]
    wanted += [(f"{sel}._domainkey.{name}", "TXT") for sel in selectors]
    where = f"{nameserver}:{port}"

    def ask(owner: str, rtype: str) -> dns.rrset.RRset | None:
        try:
            answer = res.resolve(owner + ".", rtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except (dns.exception.DNSException, OSError) as exc:
            notes.append(
                Note(where, "not-imported", f"{owner} {rtype}", f"the query failed ({_why(exc)})")
            )
            return None
        return answer.rrset

    for owner, rtype in wanted:
        rrset = ask(owner, rtype)
        if rrset is None:
            continue
        _put(zone, rrset)
        if rtype == "MX":
            for mx in rrset:
                host = mx.exchange.to_text().rstrip(".").lower()
                if names.longest_suffix(host, [name]) is None:
                    continue
                for addr in ("A", "AAAA"):
                    got = ask(host, addr)
                    if got is not None:
                        _put(zone, got)
    if zone.get_rdataset(name + ".", "SOA") is None:
        notes.append(Note(where, "not-imported", f"zone {name}", "the server gave no SOA for it"))
        return None
    return zone


def _put(zone: dns.zone.Zone, rrset: dns.rrset.RRset) -> None:
    if len(rrset) == 0:
        return
    node = zone.find_node(rrset.name, create=True)
    rds = node.find_rdataset(rrset.rdclass, rrset.rdtype, create=True)
    rds.update_ttl(rrset.ttl)
    for rd in rrset:
        rds.add(rd)


# ----------------------------------------------------------------------------- zone files


def _zone_name(root: Path, file: str) -> tuple[str, bool]:
    """The zone a file given by ``--zone`` holds: its ``$ORIGIN``, else its file name
    (then True)."""
    try:
        text = under_root(root, file).read_text(encoding="utf-8", errors="replace")
    except (OutsideRoot, OSError) as exc:
        raise ZoneReadError(f"{file}: cannot read it: {exc}") from None
    m = _ORIGIN.search(text)
    if m and m.group(1).endswith("."):
        return names.norm(m.group(1)), False
    guess = _FILE_ZONE.fullmatch(file.rsplit("/", 1)[-1])
    if guess is not None and "." in guess.group("name"):
        return names.norm(guess.group("name")), True
    raise ZoneReadError(
        f"{file}: cannot tell which zone it holds: give it an absolute $ORIGIN line or name it "
        "in named.conf"
    )


# ----------------------------------------------------------------------------- assembly


@dataclass
class _Zone:
    """One zone being imported, and the rdata already taken for mail fields."""

    zone: dns.zone.Zone
    where: str
    ttl: int
    name: str
    taken: set[tuple[str, int, dns.rdata.Rdata]] = field(default_factory=set)

    def rdatasets(self) -> Iterable[tuple[dns.name.Name, dns.rdataset.Rdataset]]:
        for owner, node in sorted(self.zone.nodes.items()):
            for rds in node.rdatasets:
                yield owner, rds

    def take(self, owner: dns.name.Name, rds: dns.rdataset.Rdataset, rd: dns.rdata.Rdata) -> None:
        self.taken.add((owner.to_text(), rds.rdtype, rd))

    def taken_(self, owner: dns.name.Name, rds: dns.rdataset.Rdataset, rd: dns.rdata.Rdata) -> bool:
        return (owner.to_text(), rds.rdtype, rd) in self.taken


def _origin(zone: dns.zone.Zone) -> dns.name.Name:
    if zone.origin is None:
        raise ZoneReadError("a zone without an origin")
    return zone.origin


def _text(name: dns.name.Name) -> str:
    return name.to_text().rstrip(".").lower()


def _txt(rd: Any) -> str | None:
    try:
        return b"".join(rd.strings).decode("utf-8")
    except UnicodeDecodeError:
        return None


def assemble(
    zones: Sequence[tuple[dns.zone.Zone, str, int | None, ReadZone | None]],
    include_mode: bool,
    *,
    entry: bool = True,
) -> Found:
    """The Found of parsed zones ``(zone, where, default TTL, its ReadZone)``.
    ``entry=False``: no ``zones:`` entry (a partial zone, from queries)."""
    found = Found()
    work = [
        _Zone(z, where, ttl if ttl is not None else _common_ttl(z), _text(_origin(z)))
        for z, where, ttl, _ in zones
    ]
    mx_targets = {
        _text(rd.exchange)
        for zw in work
        for _, rds in zw.rdatasets()
        if rds.rdtype == dns.rdatatype.MX
        for rd in rds
    }
    for zw, (_, _, _, rz) in zip(work, zones, strict=True):
        _mail(zw, found)
        _hosts(zw, found, mx_targets, include_mode)
        if entry:
            found.zones.append(_zone_entry(zw, include_mode, rz, found))
    for name, dom in found.domains.items():
        _gaps(found, name, dom)
    return found


def _gaps(found: Found, name: str, dom: Yaml) -> None:
    """What a domain entry makes mailauth write that the zone did not have: reported."""
    dom.setdefault("mx", [])  # null would mean one MX per mail host
    for key, record, default in (
        ("spf", f"{name} TXT", "`defaults.spf`'s SPF record"),
        ("dmarc", f"_dmarc.{name} TXT", "`defaults.dmarc`'s DMARC record"),
    ):
        if key not in dom:
            found.notes.append(
                Note(
                    name,
                    "changed",
                    f"no {record}",
                    f"a domain always has one in mailauth.yaml: the first plan adds {default}",
                )
            )


def _common_ttl(zone: dns.zone.Zone) -> int:
    counts = Counter(rds.ttl for node in zone.nodes.values() for rds in node.rdatasets)
    return counts.most_common(1)[0][0] if counts else 3600


def _domain(found: Found, name: str) -> Yaml:
    return found.domains.setdefault(name, {"name": name})


def _mail(zw: _Zone, found: Found) -> None:
    """MX, SPF, DMARC and DKIM records into ``domains``; each rdata taken is marked."""
    ttls: dict[str, list[int]] = {}
    for owner, rds in zw.rdatasets():
        name = _text(owner)
        labels = name.split(".")
        where = f"{zw.where}: {name}"
        if rds.rdtype == dns.rdatatype.MX:
            mx = sorted((rd.preference, _text(rd.exchange)) for rd in rds)
            _domain(found, name)["mx"] = [{"host": h, "priority": p} for p, h in mx]
            for rd in rds:
                zw.take(owner, rds, rd)
            ttls.setdefault(name, []).append(rds.ttl)
        if rds.rdtype != TXT:
            continue
        texts = [(rd, _txt(rd)) for rd in rds]
        if labels[0] == "_dmarc" and len(labels) > 1:
            dmarcs = [(rd, t) for rd, t in texts if t is not None and is_dmarc(t)]
            if dmarcs and _dmarc(found, ".".join(labels[1:]), dmarcs, where):
                for rd, text in dmarcs:
                    _take_txt(zw, owner, rds, rd, text, found)
                ttls.setdefault(".".join(labels[1:]), []).append(rds.ttl)
        elif "_domainkey" in labels[1:]:
            at = labels.index("_domainkey")
            domain, selector = ".".join(labels[at + 1 :]), ".".join(labels[:at])
            key = texts[0][1] if len(texts) == 1 else None
            if key is not None and domain and _dkim(found, domain, selector, key, where):
                _take_txt(zw, owner, rds, texts[0][0], key, found)
                ttls.setdefault(domain, []).append(rds.ttl)
        else:
            spfs = [(rd, t) for rd, t in texts if t is not None and is_spf(t)]
            if spfs and _spf(found, name, spfs, where):
                for rd, text in spfs:
                    _take_txt(zw, owner, rds, rd, text, found)
                ttls.setdefault(name, []).append(rds.ttl)
    for name, seen in ttls.items():
        _domain_ttl(found, name, seen, zw)


def _take_txt(
    zw: _Zone, owner: dns.name.Name, rds: dns.rdataset.Rdataset, rd: Any, text: str, found: Found
) -> None:
    zw.take(owner, rds, rd)
    _split_note(zw, owner, rds, rd, text, found)


def _split_note(
    zw: _Zone, owner: dns.name.Name, rds: dns.rdataset.Rdataset, rd: Any, text: str, found: Found
) -> None:
    """A TXT record split into strings other than mailauth's 255-octet ones: the same text
    (what SPF, DKIM and DMARC read), another wire form."""
    if list(rd.strings) != split_txt(text):
        found.notes.append(
            Note(
                f"{zw.where}: {_text(owner)}",
                "changed",
                f"{owner.to_text()} TXT in {len(rd.strings)} strings",
                "mailauth splits TXT text into 255-octet strings; the joined text is the same",
            )
        )


def _domain_ttl(found: Found, name: str, seen: list[int], zw: _Zone) -> None:
    common = Counter(seen).most_common(1)[0][0]
    if common != zw.ttl:
        _domain(found, name)["ttl"] = common
    if len(set(seen)) > 1:
        found.notes.append(
            Note(
                f"{zw.where}: {name}",
                "changed",
                f"TTLs {sorted(set(seen))} of its mail records",
                f"a domain's mail records share one TTL in mailauth.yaml: all get {common}",
            )
        )


def _spf(found: Found, name: str, spfs: list[tuple[Any, str]], where: str) -> bool:
    why_one = "two SPF records at one name are an error (RFC 7208 4.5): keep one by hand"
    text = _one(found, spfs, where, why_one)
    if text is None or not _fields_or_raw(found, name, "spf", text, where, parse_spf, Spf):
        return False
    if "raw" in _domain(found, name)["spf"] and " ".join(text.split()) != text:
        found.notes.append(
            Note(where, "changed", text, "mailauth writes raw SPF with single spaces between terms")
        )
    return True


def _dmarc(found: Found, domain: str, dmarcs: list[tuple[Any, str]], where: str) -> bool:
    why_one = "two DMARC records at one name are ignored by receivers (RFC 7489 6.6.3)"
    text = _one(found, dmarcs, where, why_one)
    return text is not None and _fields_or_raw(
        found, domain, "dmarc", text, where, parse_dmarc, Dmarc
    )


def _one(found: Found, records: list[tuple[Any, str]], where: str, why: str) -> str | None:
    """The text of the one policy record at a name; two are noted and neither imported."""
    if len(records) > 1:
        found.notes.append(Note(where, "not-imported", " | ".join(t for _, t in records), why))
        return None
    return records[0][1]


def _fields_or_raw(
    found: Found,
    name: str,
    field: Literal["spf", "dmarc"],
    text: str,
    where: str,
    parse: Callable[[str], Any],
    model: type[Spf] | type[Dmarc],
) -> bool:
    """Fields when mailauth would write the very same text back, else ``raw:`` with a Note
    and a comment saying why; a record even ``raw`` cannot hold is noted, not imported."""
    try:
        parsed = parse(text)
    except Unparsed as exc:
        reason = f"it does not parse into fields: {exc}"
    else:
        if parsed.exact:
            _domain(found, name)[field] = parsed.fields
            return True
        reason = parsed.why
    try:
        model.model_validate({"raw": text})
    except ValidationError as exc:
        found.notes.append(
            Note(where, "not-imported", text, f"not even as raw: {exc.errors()[0]['msg']}")
        )
        return False
    _domain(found, name)[field] = {"raw": text}
    found.comments[f"domains.{name}.{field}"] = f"kept as raw: {reason}"
    found.notes.append(Note(where, "raw", text, reason))
    return True


def _dkim(found: Found, domain: str, selector: str, text: str, where: str) -> bool:
    try:
        names.selector_name(selector)
        names.domain_name(domain)
        parsed = parse_dkim(text)
    except (Unparsed, ValueError) as exc:
        found.notes.append(
            Note(where, "not-imported", text[:80], f"not a DKIM key mailauth can hold: {exc}")
        )
        return False
    p = str(parsed.extra["p"])
    dom = _domain(found, domain)
    dkim = dom.setdefault("dkim", {"selectors": []})
    dkim["selectors"].append({"name": selector, **parsed.fields})
    found.dns_keys[(domain, selector)] = p
    if not p:
        found.comments[f"domains.{domain}.dkim.{selector}"] = "published revoked (empty p=)"
    if not parsed.exact:
        found.notes.append(Note(where, "changed", text[:80] + "...", parsed.why))
    return True


def _hosts(zw: _Zone, found: Found, mx_targets: set[str], include_mode: bool) -> None:
    """A/AAAA of MX targets into ``mail_hosts`` (zone mode takes the records too; include
    mode leaves the addresses in the hand-kept file and lists the host by name only)."""
    hosts = {h["name"]: h for h in found.mail_hosts}
    for owner, rds in zw.rdatasets():
        name = _text(owner)
        if name not in mx_targets or rds.rdtype not in (dns.rdatatype.A, dns.rdatatype.AAAA):
            continue
        host = hosts.get(name)
        if host is None:
            host = hosts[name] = {"name": name}
            found.mail_hosts.append(host)
        if include_mode:
            continue
        key = "ipv4" if rds.rdtype == dns.rdatatype.A else "ipv6"
        host.setdefault(key, []).extend(rd.address for rd in rds)
        for rd in rds:
            zw.take(owner, rds, rd)
        if rds.ttl != zw.ttl:
            found.notes.append(
                Note(
                    f"{zw.where}: {name}",
                    "changed",
                    f"{name} {rds.ttl} {dns.rdatatype.to_text(rds.rdtype)}",
                    f"a mail host's addresses take the zone's TTL ({zw.ttl})",
                )
            )


def _zone_entry(zw: _Zone, include_mode: bool, rz: ReadZone | None, found: Found) -> Yaml:
    entry: Yaml = {"name": zw.name}
    if include_mode and rz is not None:
        entry.update(mode="include", ttl=zw.ttl, serial_file=rz.file)
        found.comments[f"zones.{zw.name}"] = (
            f"kept by hand in {rz.file}: remove its MX, SPF, DMARC and DKIM records there "
            "when it $INCLUDEs mailauth's fragment"
        )
        return entry
    origin = _origin(zw.zone)
    soa_rds = zw.zone.get_rdataset(origin, "SOA")
    ns_rds = zw.zone.get_rdataset(origin, "NS")
    entry["ttl"] = zw.ttl
    if soa_rds is not None:
        soa = soa_rds[0]
        entry["soa"] = {
            "mname": _text(soa.mname),
            "rname": _rname(soa.rname),
            "refresh": soa.refresh,
            "retry": soa.retry,
            "expire": soa.expire,
            "minimum": soa.minimum,
        }
        found.comments[f"zones.{zw.name}.soa"] = (
            f"serial was {soa.serial}; mailauth keeps it from now on"
        )
    entry["ns"] = [_text(rd.target) for rd in ns_rds] if ns_rds is not None else []
    if ns_rds is not None and ns_rds.ttl != zw.ttl:
        found.notes.append(
            Note(
                f"{zw.where}: {zw.name}",
                "changed",
                f"apex NS TTL {ns_rds.ttl}",
                f"mailauth writes the apex NS with the zone's TTL ({zw.ttl})",
            )
        )
    for where, line in rz.generated if rz is not None else []:
        found.notes.append(
            Note(
                where,
                "changed",
                line,
                "imported expanded: mailauth's zone file lists the records it makes one by one",
            )
        )
    entry["records"] = _records(zw, found)
    return entry


def _rname(name: dns.name.Name) -> str:
    """SOA RNAME as mailauth.yaml writes it (hostmaster@example.org)."""
    first, *rest = name.labels
    if not rest or not re.fullmatch(rb"[A-Za-z0-9._+-]+", first):
        return _text(name)
    return (
        first.decode("ascii").lower() + "@" + ".".join(x.decode("ascii") for x in rest if x).lower()
    )


def _records(zw: _Zone, found: Found) -> list[Yaml]:
    out: list[Yaml] = []
    origin = _origin(zw.zone)
    for owner, rds in zw.rdatasets():
        rtype = dns.rdatatype.to_text(rds.rdtype)
        if owner == origin and rtype in ("SOA", "NS"):
            continue
        where = f"{zw.where}: {_text(owner)}"
        for rd in rds:
            if zw.taken_(owner, rds, rd):
                continue
            shown = f"{owner.to_text()} {rds.ttl} IN {rtype} {rd.to_text()}"
            if rtype not in EXTRA_TYPES:
                found.notes.append(
                    Note(
                        where,
                        "not-imported",
                        shown,
                        f"{rtype} is not a record type mailauth.yaml can declare",
                    )
                )
                continue
            value = _txt(rd) if rds.rdtype == TXT else rd.to_text(origin=None, relativize=False)
            rec: Yaml = {"name": owner.relativize(origin).to_text(), "type": rtype, "value": value}
            if rds.ttl != zw.ttl:
                rec["ttl"] = rds.ttl
            try:
                if value is None:
                    raise ValueError("its text is not UTF-8")
                ExtraRecord.model_validate(rec)
            except (ValidationError, ValueError) as exc:
                why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                found.notes.append(Note(where, "not-imported", shown, why))
                continue
            if rds.rdtype == TXT and value is not None:
                _split_note(zw, owner, rds, rd, value, found)
            out.append(rec)
    return out

"""Is a published key live? Ask every authoritative server of its zone (promote's proof).

A key is live when each name server of the zone answers, authoritatively, with exactly
one DKIM record at the selector's name, whose ``p=`` is the public key in mailauth.lock.
The servers are those of the zone as mailauth.yaml lists them (zone mode), else the NS
set the system resolver finds; ``--nameserver`` names them instead (a test, a hidden
primary). Asking is done by compiler/verify.py's DnsLookup: the same code as `verify`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dns.exception
import dns.resolver

from mailauth.compiler.dkimkeys import parse_dkim_txt
from mailauth.compiler.model import MailModel, ZoneModel
from mailauth.compiler.rotation.machine import Live
from mailauth.compiler.verify import Answer, DnsError, DnsLookup
from mailauth.schema.names import longest_suffix

Server = tuple[str, int]
#: Asks one server one question (a DnsLookup of that server, or a stand-in in tests).
Ask = Callable[[Server, str, str], Answer]


def ask_server(timeout: float) -> Ask:
    def ask(server: Server, name: str, rdtype: str) -> Answer:
        return DnsLookup([server], timeout)(name, rdtype)

    return ask


def zone_of(model: MailModel, record_name: str) -> ZoneModel | None:
    """The zone that holds ``record_name`` (the longest suffix among the model's zones)."""
    zones = {zone.name: zone for zone in model.zones}
    name = longest_suffix(record_name, zones)
    return None if name is None else zones[name]


def record_ttl(model: MailModel, record_name: str) -> int:
    """How long a resolver may keep an answer about ``record_name`` from before it was
    published: the record's TTL, or, if longer, the zone's negative-caching time (RFC 2308:
    the smaller of the SOA's minimum and its TTL), for a "no such record" asked earlier."""
    zone = zone_of(model, record_name)
    if zone is None:
        return 0
    relative = "@" if record_name == zone.name else record_name[: -(len(zone.name) + 1)]
    ttl = max((r.ttl for r in zone.find(relative, "TXT")), default=0)
    negative = min(zone.soa.minimum, zone.ttl) if zone.soa is not None else 0
    return max(ttl, negative)


def authoritative_servers(zone: ZoneModel, ns_names: Sequence[str]) -> list[Server]:
    """The addresses (port 53) of the zone's name servers, via the system resolver."""
    names = list(ns_names)
    if not names:
        try:
            answer = dns.resolver.resolve(zone.name + ".", "NS")
        except dns.exception.DNSException as exc:
            raise DnsError(f"{zone.name}: cannot find its name servers ({exc})") from None
        names = [str(r.target).rstrip(".") for r in answer]
    servers: list[Server] = []
    for name in names:
        for rdtype in ("A", "AAAA"):
            try:
                answer = dns.resolver.resolve(name + ".", rdtype)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise DnsError(f"{name}: cannot find its address ({exc})") from None
            servers += [(str(r.address), 53) for r in answer]
    if not servers:
        raise DnsError(f"{zone.name}: no address for its name servers {', '.join(names)}")
    return servers


def check_live(record_name: str, public_key: str, servers: Sequence[Server], ask: Ask) -> Live:
    """Does every server in ``servers`` serve exactly ``public_key`` at ``record_name``?"""
    problems: list[str] = []
    for server in servers:
        shown = f"{server[0]}:{server[1]}" if server[1] != 53 else server[0]
        try:
            answer = ask(server, record_name + ".", "TXT")
        except DnsError as exc:
            problems.append(f"{shown}: {exc}")
            continue
        if answer.refused:
            problems.append(f"{shown} refused the question (not authoritative for the zone?)")
            continue
        if not answer.authoritative:
            problems.append(f"{shown} answered without authority")
            continue
        texts = [
            b"".join(r.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
            for r in answer.values
        ]
        keys: list[str] = []
        for text in texts:
            if not text.lower().replace(" ", "").startswith("v=dkim1"):
                continue
            try:
                keys.append(parse_dkim_txt(text).get("p", ""))
            except ValueError:
                keys.append("(malformed)")
        if not keys:
            problems.append(f"{shown} does not serve the record yet")
        elif len(keys) > 1:
            problems.append(f"{shown} serves {len(keys)} DKIM records there, not one")
        elif keys[0] != public_key:
            problems.append(f"{shown} serves another key than mailauth.lock's")
    return Live("; ".join(problems) if problems else None)

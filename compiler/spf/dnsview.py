"""The DNS questions an SPF evaluation asks, answered without (or, on request, with) DNS.

Three sources, asked in order by :class:`ChainView`:

* :class:`ModelView`: the records mailauth is about to publish. For a zone mailauth owns
  whole (``mode: zone``) its answer is final, "nothing there" included; for an include-mode
  zone only what mailauth writes is known, the rest of the hand-kept zone is not.
* :class:`CacheView`: the committed cache file (``mailauth spf refresh`` writes it).
* :class:`LiveView`: real DNS through dnspython, for ``--resolve``; it records every answer
  so they can become the new cache.

Each question returns a list (empty: the name or the record does not exist, a "void"
answer) or None (not known here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mailauth.compiler.model import MailModel
from mailauth.compiler.spf.syntax import is_spf
from mailauth.schema.names import longest_suffix, norm

RTYPES = ("txt", "mx", "a", "aaaa")
Answers = dict[str, dict[str, list[str]]]  # name -> rtype -> values


class DnsView(Protocol):
    def lookup(self, name: str, rtype: str) -> list[str] | None:
        """Values of ``rtype`` at ``name``: SPF strings for txt, host names for mx."""
        ...


def spf_records(view: DnsView, name: str) -> list[str] | None:
    return view.lookup(name, "txt")


def addresses(view: DnsView, name: str) -> list[str] | None:
    """A and AAAA together; None when neither is known."""
    found: list[str] = []
    known = False
    for rtype in ("a", "aaaa"):
        values = view.lookup(name, rtype)
        if values is not None:
            known = True
            found += values
    return found if known else None


class ModelView:
    """Answers from the MailModel: final for zones mailauth owns whole."""

    def __init__(self, model: MailModel) -> None:
        self.zones: dict[str, str] = {z.name: z.mode for z in model.zones}
        self.records: dict[tuple[str, str], list[str]] = {}
        for zone in model.zones:
            for record in zone.records:
                owner = norm(record.fqdn(zone.name))
                rtype = record.type.lower()
                value = record.value
                if rtype == "txt":
                    if not is_spf(value):
                        continue
                    value = " ".join(value.split())
                elif rtype == "mx":
                    value = norm(value.split()[-1])
                elif rtype == "cname":
                    value = norm(value)
                self.records.setdefault((owner, rtype), []).append(value)

    def zone_of(self, name: str) -> tuple[str, str] | None:
        """The longest zone ``name`` lies in, and its mode."""
        zone = longest_suffix(name, self.zones)
        return None if zone is None else (zone, self.zones[zone])

    def authoritative(self, name: str) -> bool:
        """mailauth writes the whole zone of ``name``: what the model lacks does not exist."""
        zone = self.zone_of(norm(name))
        return zone is not None and zone[1] == "zone"

    def lookup(self, name: str, rtype: str, _depth: int = 0) -> list[str] | None:
        name = norm(name)
        zone = self.zone_of(name)
        if zone is None:
            return None
        target = self.records.get((name, "cname"))
        if target and _depth < 8:
            return self.lookup(target[0], rtype, _depth + 1)
        values = self.records.get((name, rtype))
        if values:
            return sorted(values) if rtype != "mx" else list(values)
        return [] if zone[1] == "zone" else None


class CacheView:
    """Answers from the committed cache (``names`` of :mod:`mailauth.compiler.spf.cache`)."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers

    def lookup(self, name: str, rtype: str) -> list[str] | None:
        entry = self.answers.get(norm(name))
        if entry is None or rtype not in entry:
            return None
        return list(entry[rtype])


class DnsFailure(Exception):
    """A query got no usable answer (time-out, SERVFAIL): SPF's temperror."""


@dataclass
class LiveView:
    """Real DNS through dnspython; every answer is kept in ``answers`` (the next cache)."""

    nameservers: Sequence[tuple[str, int]] = ()
    timeout: float = 3.0
    answers: Answers = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        import dns.resolver

        if self.nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [host for host, _ in self.nameservers]
            resolver.nameserver_ports = dict(self.nameservers)  # each server its own port
            resolver.port = self.nameservers[0][1]
        else:
            resolver = dns.resolver.Resolver()
        resolver.timeout = self.timeout
        resolver.lifetime = self.timeout * 2
        resolver.cache = None
        self._resolver = resolver

    def lookup(self, name: str, rtype: str) -> list[str] | None:
        name = norm(name)
        known = self.answers.get(name, {})
        if rtype in known:
            return list(known[rtype])
        try:
            values = self._query(name, rtype)
        except DnsFailure as exc:
            message = f"{name} {rtype.upper()}: {exc}"
            if message not in self.failures:
                self.failures.append(message)
            return None
        self.answers.setdefault(name, {})[rtype] = values
        return list(values)

    def _query(self, name: str, rtype: str) -> list[str]:
        import dns.exception
        import dns.resolver

        try:
            answer = self._resolver.resolve(name + ".", rtype.upper(), raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException as exc:
            raise DnsFailure(str(exc) or type(exc).__name__) from None
        rrset = answer.rrset
        if rrset is None:
            return []
        if rtype == "txt":
            texts = [b"".join(r.strings).decode("utf-8", "replace") for r in rrset]
            return sorted(t for t in texts if is_spf(t))
        if rtype == "mx":
            pairs = sorted((r.preference, norm(r.exchange.to_text())) for r in rrset)
            return [host for _, host in pairs]
        return sorted(r.to_text() for r in rrset)


class ChainView:
    """The first source that knows the answer."""

    def __init__(self, views: Iterable[DnsView]) -> None:
        self.views = list(views)

    def lookup(self, name: str, rtype: str) -> list[str] | None:
        for view in self.views:
            values = view.lookup(name, rtype)
            if values is not None:
                return values
        return None

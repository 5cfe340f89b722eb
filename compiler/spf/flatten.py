"""SPF flattening, opt-in per include: a third party's addresses copied in as ip4/ip6 terms.

``include:_spf.provider.example`` costs a lookup, and every include of the provider's own
record costs more; flattening replaces it with the addresses the provider publishes today,
read from the committed cache (never from DNS during a plan). The addresses are merged,
deduplicated and sorted (IPv4 first), so the result depends only on the cache. When they
fit, they go in the domain's record in place of the include; otherwise the record gets one
``include:_spf1.<domain>`` and the addresses go into a chain of records ``_spf1``,
``_spf2``... each at most :data:`RECORD_LIMIT` octets and each ending with an include of
the next one. The chain records have no ``all``: a record that does not match answers
"neutral", which makes its include not match (RFC 7208 section 5.2), as the original did.

Only includes whose whole tree is addresses can be flattened: a tree with ``exists``,
``ptr``, macros, ``+all`` or a non-pass qualifier depends on the message, and is left as
an include (the linter says why).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailauth.compiler.spf.cache import SpfCache
from mailauth.compiler.spf.dnsview import CacheView, DnsView
from mailauth.compiler.spf.syntax import expand, parse
from mailauth.schema.models import Spf
from mailauth.schema.names import norm

# RFC 7208 section 3.4: keep a record small enough that the whole answer fits a 512-octet
# UDP packet; 450 octets of record leaves room for the rest of the DNS message.
RECORD_LIMIT = 450
_PLACEHOLDER = "\x00flattened\x00"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NotCached(Exception):
    """A name the tree needs is not in the cache."""


class CannotFlatten(Exception):
    """The tree has something that is not a fixed set of addresses."""


@dataclass(frozen=True)
class Issue:
    rule: str  # SPF024, SPF025 or SPF026
    include: str
    message: str


@dataclass(frozen=True)
class Flattened:
    text: str
    chain: tuple[tuple[str, str], ...] = ()  # (owner, record) of the _spfN records
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # include -> terms
    issues: tuple[Issue, ...] = ()


def network_term(network: Network) -> str:
    if network.version == 4:
        return f"ip4:{network.network_address}" + (
            "" if network.prefixlen == 32 else f"/{network.prefixlen}"
        )
    return f"ip6:{network.network_address}" + (
        "" if network.prefixlen == 128 else f"/{network.prefixlen}"
    )


def normalise(networks: Sequence[Network]) -> list[Network]:
    """Merged (adjacent and contained ranges collapse), IPv4 first, in address order."""
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    out: list[Network] = []
    out += sorted(ipaddress.collapse_addresses(v4))
    out += sorted(ipaddress.collapse_addresses(v6))
    return out


def collect(target: str, view: DnsView, seen: tuple[str, ...] = ()) -> list[Network]:
    """Every address range for which ``target``'s SPF record answers pass."""
    name = norm(target)
    if name in seen:
        raise CannotFlatten(f"{' -> '.join([*seen, name])} loops")
    if len(seen) > 20:
        raise CannotFlatten("the include tree is too deep")
    records = view.lookup(name, "txt")
    if records is None:
        raise NotCached(name)
    if not records:
        raise CannotFlatten(f"{name} has no SPF record")
    if len(records) > 1:
        raise CannotFlatten(f"{name} publishes {len(records)} SPF records")
    record = parse(records[0])
    fatal = [i for i in record.issues if i.rule != "SPF008"]
    if fatal:
        raise CannotFlatten(f"the record of {name} is malformed: {fatal[0].message}")
    found: list[Network] = []
    trail = (*seen, name)
    for term in record.terms:
        if term.modifier:
            continue
        if term.name == "all":
            if term.qualifier == "+":
                raise CannotFlatten(f"{name} ends with +all (it would pass every sender)")
            return found
        if term.qualifier != "+":
            raise CannotFlatten(
                f"{term.text} in {name}: only terms that pass can be turned into addresses"
            )
        if term.name in ("ip4", "ip6"):
            assert term.target is not None
            found.append(ipaddress.ip_network(term.target, strict=False))
        elif term.name in ("a", "mx"):
            host = expand(term.target, name) if term.target else name
            if host is None:
                raise CannotFlatten(f"{term.text} in {name} depends on the message (a macro)")
            hosts = [host]
            if term.name == "mx":
                mx = view.lookup(host, "mx")
                if mx is None:
                    raise NotCached(host)
                hosts = mx
            for each in hosts:
                found += _addresses(each, view, term.cidr4, term.cidr6)
        elif term.name == "include":
            sub = expand(term.target or "", name)
            if sub is None:
                raise CannotFlatten(f"{term.text} in {name} depends on the message (a macro)")
            found += collect(sub, view, trail)
        else:
            raise CannotFlatten(
                f"{term.text} in {name} depends on the message ({term.name}); "
                "it cannot be turned into addresses"
            )
    redirect = record.modifier("redirect")
    if redirect is not None and redirect.target:
        sub = expand(redirect.target, name)
        if sub is None:
            raise CannotFlatten(f"{redirect.text} in {name} depends on the message (a macro)")
        found += collect(sub, view, trail)
    return found


def _addresses(host: str, view: DnsView, cidr4: int | None, cidr6: int | None) -> list[Network]:
    out: list[Network] = []
    for rtype, prefix in (("a", cidr4 if cidr4 is not None else 32), ("aaaa", cidr6)):
        values = view.lookup(host, rtype)
        if values is None:
            raise NotCached(host)
        for value in values:
            length = prefix if prefix is not None else 128
            out.append(ipaddress.ip_network(f"{value}/{length}", strict=False))
    return out


def flatten(domain: str, text: str, names: Sequence[str], view: DnsView) -> Flattened:
    """The record to publish for ``domain`` with the includes of ``names`` flattened."""
    record = parse(text)
    wanted = {norm(n): n for n in names}
    issues: list[Issue] = []
    present = {
        norm(t.target): t
        for t in record.terms
        if not t.modifier and t.name == "include" and t.target
    }
    for key, written in wanted.items():
        if key not in present:
            issues.append(
                Issue(
                    "SPF024",
                    written,
                    f"flatten names {written}, but the record has no include:{written}",
                )
            )
    replaced: dict[int, list[Network]] = {}
    shown: dict[str, tuple[str, ...]] = {}
    for key, term in present.items():
        if key not in wanted:
            continue
        if term.qualifier != "+":
            issues.append(
                Issue("SPF026", key, f"{term.text}: only a pass include can be flattened")
            )
            continue
        target = expand(key, norm(domain))
        try:
            if target is None:
                raise CannotFlatten(f"{term.text} depends on the message (a macro)")
            networks = normalise(collect(target, view))
        except NotCached as missing:
            issues.append(
                Issue(
                    "SPF025",
                    key,
                    f"include:{key} is marked flatten but {missing} is not in the SPF cache; "
                    "it stays an include until `mailauth spf refresh` records it",
                )
            )
            continue
        except CannotFlatten as why:
            issues.append(Issue("SPF026", key, f"include:{key} cannot be flattened: {why}"))
            continue
        replaced[term.index] = networks
        shown[key] = tuple(network_term(n) for n in networks)
    if not replaced:
        return Flattened(text, (), {}, tuple(issues))
    merged = normalise([n for nets in replaced.values() for n in nets])
    net_terms = [network_term(n) for n in merged]
    kept: list[str] = []
    for term in record.terms:
        if term.index in replaced:
            if _PLACEHOLDER not in kept:
                kept.append(_PLACEHOLDER)
            continue
        kept.append(term.text)
    inline = _record([t for k in kept for t in (net_terms if k == _PLACEHOLDER else [k])])
    if len(inline.encode()) <= RECORD_LIMIT:
        return Flattened(inline, (), shown, tuple(issues))
    base = norm(domain)
    apex = _record([f"include:_spf1.{base}" if k == _PLACEHOLDER else k for k in kept])
    return Flattened(apex, tuple(_chain(base, net_terms)), shown, tuple(issues))


def _record(terms: Sequence[str]) -> str:
    return " ".join(["v=spf1", *terms])


def _chain(domain: str, terms: Sequence[str]) -> list[tuple[str, str]]:
    """``_spfN.<domain>`` records holding ``terms``, each within RECORD_LIMIT octets."""
    groups: list[list[str]] = [[]]
    for term in terms:
        current = groups[-1]
        # Room for the include of the next link, whose number has at most 3 digits.
        reserve = len(f" include:_spf{len(groups) + 1:03d}.{domain}")
        if current and len(_record([*current, term])) + reserve > RECORD_LIMIT:
            groups.append([term])
        else:
            current.append(term)
    out: list[tuple[str, str]] = []
    for index, group in enumerate(groups, start=1):
        tail = [f"include:_spf{index + 1}.{domain}"] if index < len(groups) else []
        out.append((f"_spf{index}.{domain}", _record([*group, *tail])))
    return out


def published_spf(
    cache: SpfCache, domain: str, spf: Spf, text: str
) -> tuple[str, list[tuple[str, str]]]:
    """What build publishes for ``domain``: the record, and its ``_spfN`` chain if any.

    ``cache`` is the SPF cache as the inputs were read (compiler/inputs.py): build reads
    no file. Includes that cannot be flattened from the cache stay includes here;
    ``mailauth lint`` (and so plan) reports them.
    """
    if not spf.flatten:
        return text, []
    result = flatten(domain, text, spf.flatten, CacheView(cache.answers()))
    return result.text, list(result.chain)

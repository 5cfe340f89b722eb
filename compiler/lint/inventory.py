"""The records mailauth publishes, each with the place in mailauth.yaml it comes from.

The rules check what will really be published (the MailModel, flattening applied), but
a message must point at what the user wrote: ``domains[1].spf.include[2]`` at line 40,
not "the TXT record of example.org". This module pairs the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from mailauth.compiler.build import _merge
from mailauth.compiler.dmarc_tags import tag_names
from mailauth.compiler.model import DkimKey, MailModel, Record
from mailauth.compiler.records import spf_text
from mailauth.compiler.spf.syntax import is_spf, parse
from mailauth.schema.loader import PathKey
from mailauth.schema.models import Config, Dmarc, Domain, Spf
from mailauth.schema.names import longest_suffix, norm

Kind = Literal["domain", "chain", "extra"]


@dataclass
class SpfSite:
    """One SPF record to be published."""

    owner: str
    text: str  # as published (flattening applied)
    declared: str  # as written, before flattening
    path: PathKey
    kind: Kind
    domain: str | None  # the configured domain it belongs to (for silences)
    spf: Spf | None = None  # the merged settings (domain records only)
    index: int | None = None  # the domain's index in `domains`
    term_paths: dict[int, PathKey] = field(default_factory=dict)  # published term -> path

    def term_path(self, index: int | None) -> PathKey:
        if index is None:
            return self.path
        return self.term_paths.get(index, self.path)


@dataclass
class DmarcSite:
    owner: str
    text: str
    path: PathKey
    kind: Kind
    domain: str | None  # the policy domain
    dmarc: Dmarc | None = None
    index: int | None = None
    tag_paths: dict[str, PathKey] = field(default_factory=dict)
    #: Published from a literal `raw:` text (its tags read back by compiler/dmarc_tags.py).
    raw: bool = False

    def tag_path(self, tag: str) -> PathKey:
        return self.tag_paths.get(tag, self.path)


@dataclass
class DkimSite:
    owner: str
    text: str
    path: PathKey
    kind: Kind
    domain: str | None
    selector: str
    key: DkimKey | None = None


@dataclass
class MxSite:
    owner: str
    host: str
    path: PathKey
    domain: str | None


@dataclass
class Inventory:
    spf: list[SpfSite] = field(default_factory=list)
    dmarc: list[DmarcSite] = field(default_factory=list)
    dkim: list[DkimSite] = field(default_factory=list)
    mx: list[MxSite] = field(default_factory=list)


class DomainIndex:
    """The configured domain names, for finding the one a name lies in without a scan."""

    def __init__(self, config: Config) -> None:
        self.names = frozenset(d.name for d in config.domains)

    def domain_of(self, name: str) -> str | None:
        """The configured domain ``name`` lies in (the longest match)."""
        return longest_suffix(norm(name), self.names)


def domain_of(name: str, config: Config) -> str | None:
    """The configured domain ``name`` lies in (the longest match), for silences."""
    return DomainIndex(config).domain_of(name)


def _base(domain: Domain, index: int, section: str, fieldname: str) -> PathKey:
    """Where a merged field comes from: the domain's own section, or defaults."""
    own = getattr(domain, section)
    if own is not None:
        raw = getattr(own, "raw", None)
        if raw is not None or fieldname in own.model_fields_set:
            return ("domains", index, section)
    return ("defaults", section)


def _section(domain: Domain, index: int, section: str) -> PathKey:
    return (
        ("domains", index, section)
        if getattr(domain, section) is not None
        else (
            "defaults",
            section,
        )
    )


def spf_terms(spf: Spf, domain: Domain, index: int) -> list[tuple[str, PathKey]]:
    """The terms spf_text writes, in its order, each with its path."""

    def at(name: str, *rest: int) -> PathKey:
        return (*_base(domain, index, "spf", name), name, *rest)

    if spf.raw is not None:
        return [(token, at("raw")) for token in spf.raw.split()[1:]]
    terms: list[tuple[str, PathKey]] = []
    terms += [(f"ip4:{net}", at("ip4", k)) for k, net in enumerate(spf.ip4)]
    terms += [(f"ip6:{net}", at("ip6", k)) for k, net in enumerate(spf.ip6)]
    for mechanism, setting in (("a", spf.a), ("mx", spf.mx)):
        if setting is True:
            terms.append((mechanism, at(mechanism)))
        elif isinstance(setting, list):
            for k, spec in enumerate(setting):
                sep = "" if spec.startswith("/") else ":"
                terms.append((f"{mechanism}{sep}{spec}", at(mechanism, k)))
    terms += [(f"include:{spec}", at("include", k)) for k, spec in enumerate(spf.include)]
    terms += [(f"exists:{spec}", at("exists", k)) for k, spec in enumerate(spf.exists)]
    if spf.redirect is not None:
        terms.append((f"redirect={spf.redirect}", at("redirect")))
    if spf.all is not None:
        terms.append((spf.all, at("all")))
    return terms


def _map_terms(
    published: str, declared: list[tuple[str, PathKey]], flatten: PathKey
) -> dict[int, PathKey]:
    """Published term index -> path: by text; what flattening made points at ``flatten``."""
    pool = list(declared)
    out: dict[int, PathKey] = {}
    for term in parse(published).terms:
        for k, (text, path) in enumerate(pool):
            if text.lower() == term.text.lower():
                out[term.index] = path
                del pool[k]
                break
        else:
            out[term.index] = flatten
    return out


def _records(model: MailModel) -> Iterator[tuple[str, Record]]:
    for zone in model.zones:
        for record in zone.records:
            yield norm(record.fqdn(zone.name)), record


def _txt_by_owner(model: MailModel) -> dict[str, list[str]]:
    """Owner -> TXT values, in model order: one pass instead of a scan per DKIM key."""
    out: dict[str, list[str]] = {}
    for owner, record in _records(model):
        if record.type == "TXT":
            out.setdefault(owner, []).append(record.value)
    return out


def _extra_paths(config: Config) -> dict[tuple[str, str, str], PathKey]:
    """(owner, type, value) of every hand-written record -> its path."""
    out: dict[tuple[str, str, str], PathKey] = {}
    for zi, zone in enumerate(config.zones):
        for ri, record in enumerate(zone.records):
            owner = zone.name if record.name == "@" else f"{record.name}.{zone.name}"
            out.setdefault((norm(owner), record.type, record.value), ("zones", zi, "records", ri))
            out.setdefault((norm(owner), record.type, ""), ("zones", zi, "records", ri))
    return out


def build_inventory(config: Config, model: MailModel) -> Inventory:
    inv = Inventory()
    extra = _extra_paths(config)
    domains = {d.name: (i, d) for i, d in enumerate(config.domains)}
    published = {d.name: d for d in model.domains}
    txt = _txt_by_owner(model)
    owners = DomainIndex(config)

    # SPF and DMARC of each configured domain.
    for name, (index, domain) in domains.items():
        built = published.get(name)
        if built is None:
            continue
        spf = _merge(config.defaults.spf, domain.spf)
        declared = spf_text(spf)
        spf_path = _section(domain, index, "spf")
        flatten_path: PathKey = (*_base(domain, index, "spf", "flatten"), "flatten")
        terms = spf_terms(spf, domain, index)
        if " ".join(["v=spf1", *(t for t, _ in terms)]) != declared:
            terms = []  # spf_text changed shape: point at the section only
        site = SpfSite(name, built.spf, declared, spf_path, "domain", name, spf, index)
        site.term_paths = _map_terms(built.spf, terms, flatten_path)
        inv.spf.append(site)

        dmarc = _merge(config.defaults.dmarc, domain.dmarc)
        dsite = DmarcSite(
            f"_dmarc.{name}", built.dmarc, _section(domain, index, "dmarc"), "domain", name,
            dmarc, index,
        )  # fmt: skip
        if dmarc.raw is not None:
            # Every tag lives in the literal text: findings point at `raw:`.
            raw_path: PathKey = (*_base(domain, index, "dmarc", "raw"), "raw")
            dsite.raw = True
            dsite.path = raw_path
            for tag in tag_names(dmarc.raw):
                dsite.tag_paths[tag] = raw_path
        else:
            for tag in Dmarc.model_fields:
                dsite.tag_paths[tag] = (*_base(domain, index, "dmarc", tag), tag)
        inv.dmarc.append(dsite)

        dkim_path = _section(domain, index, "dkim")
        dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
        positions = {sel.name: k for k, sel in enumerate(dkim.selectors)}
        for key in built.keys:
            sel_path: PathKey = (*dkim_path, "selectors", positions.get(key.selector, 0))
            text = ""
            if key.public_key is not None:
                found = txt.get(norm(key.record_name))
                text = found[0] if found else ""
            inv.dkim.append(
                DkimSite(norm(key.record_name), text, sel_path, "domain", name, key.selector, key)
            )

    # Everything else in the model: flattening chains, hand-written records, MX.
    mail_hosts = {h.name: k for k, h in enumerate(config.mail_hosts)}
    for owner, record in _records(model):
        owned_by = owners.domain_of(owner)
        if record.type == "TXT" and is_spf(record.value):
            if record.purpose == "spf" and owner not in domains and owned_by in domains:
                index, domain = domains[owned_by]
                path: PathKey = (*_base(domain, index, "spf", "flatten"), "flatten")
                inv.spf.append(
                    SpfSite(owner, record.value, record.value, path, "chain", owned_by,
                            index=index)
                )  # fmt: skip
            elif record.purpose == "extra":
                path = extra.get((owner, "TXT", record.value), ())
                value_path: PathKey = (*path, "value") if path else ()
                inv.spf.append(
                    SpfSite(owner, record.value, record.value, value_path, "extra", owned_by)
                )
        elif record.type == "TXT" and record.purpose == "extra":
            path = extra.get((owner, "TXT", record.value), ())
            value_path = (*path, "value") if path else ()
            if owner.startswith("_dmarc.") and record.value.lower().startswith("v=dmarc1"):
                policy = owners.domain_of(owner.removeprefix("_dmarc."))
                inv.dmarc.append(DmarcSite(owner, record.value, value_path, "extra", policy))
            elif "._domainkey." in owner:
                selector = owner.split("._domainkey.", 1)[0]
                inv.dkim.append(
                    DkimSite(owner, record.value, value_path, "extra", owned_by, selector)
                )
        elif record.type == "MX":
            host = norm(record.value.split()[-1])
            path = ()
            if record.purpose == "mx" and owner in domains:
                index, domain = domains[owner]
                if domain.mx is not None:
                    hosts = [norm(m.host) for m in domain.mx]
                    k = hosts.index(host) if host in hosts else 0
                    path = ("domains", index, "mx", k, "host")
                elif host in mail_hosts:
                    path = ("mail_hosts", mail_hosts[host], "name")
            elif record.purpose == "extra" and (owner, "MX", "") in extra:
                path = (*extra[(owner, "MX", "")], "value")
            inv.mx.append(MxSite(owner, host, path, owned_by))
    return inv

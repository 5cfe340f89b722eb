"""Config -> MailModel: merge defaults, place every name in its zone, resolve the records."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from mailauth.backends.base import Backend, BuildContext, MilterRole
from mailauth.compiler.dane import tlsa_owner, tlsa_value
from mailauth.compiler.dmarc_reports import REPORT_RECORD, report_authorizations
from mailauth.compiler.model import (
    DkimKey,
    DomainModel,
    MailModel,
    Milter,
    Record,
    RecordPurpose,
    SoaModel,
    ZoneModel,
)
from mailauth.compiler.mta_sts import add_mta_sts
from mailauth.compiler.records import dkim_text, dmarc_text, spf_text
from mailauth.compiler.spf.cache import NO_CACHE, SpfCache
from mailauth.compiler.spf.flatten import published_spf
from mailauth.compiler.trust_records import add_records as add_trust_records
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.models import Config, Dkim, DkimSelector, Dmarc, Domain, Spf, Zone
from mailauth.schema.names import longest_suffix
from mailauth.schema.rrtypes import check_value, nameless
from mailauth.schema.validate import LoadedConfig, dotted


@dataclass(frozen=True)
class KnownKey:
    """A public key known from the config, the lock file or the key store."""

    algorithm: str
    bits: int
    public_key: str
    #: Revoked by key rotation: published with an empty p= (compiler/rotation/).
    revoked: bool = False


KeyIndex = Mapping[tuple[str, str], KnownKey]
PolicyT = TypeVar("PolicyT", Spf, Dmarc)


def _merge(default: PolicyT, override: PolicyT | None) -> PolicyT:
    """Field-by-field: what the domain wrote wins, the rest comes from defaults."""
    if override is None:
        return default
    if isinstance(override, Spf | Dmarc) and override.raw is not None:
        return override
    if isinstance(override, Dmarc) and isinstance(default, Dmarc) and default.raw is not None:
        # The domain's tags build its record; the raw text of defaults has none to merge.
        return override
    update = {name: getattr(override, name) for name in override.model_fields_set}
    merged = default.model_copy(update=update)
    if (
        isinstance(merged, Spf)
        and isinstance(override, Spf)
        and "redirect" in override.model_fields_set
        and override.redirect is not None
        and "all" not in override.model_fields_set
    ):
        # RFC 7208 6.1: redirect= applies only when no `all` matches. A domain that says
        # redirect means it, so an `all` from the defaults must not silently cancel it.
        merged = merged.model_copy(update={"all": None})
    return merged


def _selectors(default: Dkim, override: Dkim | None) -> Dkim:
    return override if override is not None else default


def key_path(config: Config, domain: str, selector: DkimSelector) -> str:
    """The private key's path on the mail host."""
    if selector.key_file is not None:
        return selector.key_file
    relative = config.keys.file.format(domain=domain, selector=selector.name)
    return config.keys.directory.rstrip("/") + "/" + relative


def _relative(name: str, zone: str) -> str:
    return "@" if name == zone else name[: -(len(zone) + 1)]


def _rname(value: str | None, zone: str) -> str:
    """SOA RNAME: the schema already made ``soa.rname`` a DNS name in presentation form
    (through dnspython, see schema/strings.rname); the default is hostmaster@<zone>."""
    return value if value is not None else f"hostmaster.{zone}."


class _ZoneBuilder:
    def __init__(self, name: str, spec: Zone | None, default_ttl: int) -> None:
        self.name = name
        self.spec = spec
        self.ttl = spec.ttl if spec is not None and spec.ttl is not None else default_ttl
        self.records: set[Record] = set()

    def add(
        self, owner: str, rtype: str, value: str, ttl: int | None, purpose: RecordPurpose
    ) -> None:
        self.records.add(
            Record(
                _relative(owner, self.name),
                rtype,
                value,
                ttl if ttl is not None else self.ttl,
                purpose,
            )
        )

    def finish(self) -> ZoneModel:
        spec = self.spec
        soa: SoaModel | None = None
        mode = spec.mode if spec is not None else "include"
        if spec is not None and mode == "zone":
            for ns in spec.ns:
                self.add(self.name, "NS", f"{ns}.", None, "ns")
            soa = SoaModel(
                mname=(spec.soa.mname or spec.ns[0]) + ".",
                rname=_rname(spec.soa.rname, self.name),
                refresh=spec.soa.refresh,
                retry=spec.soa.retry,
                expire=spec.soa.expire,
                minimum=spec.soa.minimum,
            )
        records = tuple(sorted(self.records, key=Record.sort_key))
        return ZoneModel(
            name=self.name,
            mode=mode,
            ttl=self.ttl,
            soa=soa,
            records=records,
            serial_file=spec.serial_file if spec is not None else None,
            zone_file=spec.zone_file if spec is not None else None,
        )


def _check_conflicts(zone: ZoneModel, problems: list[Problem], where: str, field: str) -> None:
    """A CNAME cannot share its name with anything (RFC 1034 3.6.2); SPF must be single."""
    by_name: dict[str, set[str]] = {}
    spf_count: dict[str, int] = {}
    for record in zone.records:
        by_name.setdefault(record.name, set()).add(record.type)
        if record.type == "TXT" and record.value.lower().startswith("v=spf1"):
            spf_count[record.name] = spf_count.get(record.name, 0) + 1
    for name, types in sorted(by_name.items()):
        if "CNAME" in types and len(types) > 1:
            others = ", ".join(sorted(types - {"CNAME"}))
            problems.append(Problem(where, field, f"{name}: a CNAME cannot sit beside {others}"))
    for name, count in sorted(spf_count.items()):
        if count > 1:
            problems.append(
                Problem(
                    where,
                    field,
                    f"{name}: {count} SPF records; receivers treat more than one as an error",
                )
            )


def build_model(
    loaded: LoadedConfig,
    keys: KeyIndex | None = None,
    spf_cache: SpfCache = NO_CACHE,
    tlsa: Mapping[str, tuple[str, ...]] | None = None,
) -> MailModel:
    """Resolve the config into records and keys; raises ConfigError on cross-field problems.

    Pure: everything it needs from disk (public keys, the SPF cache) comes in as read by
    compiler/inputs.py, so building twice gives the same model and touches no file.
    ``tlsa``: each mail host's published TLSA digests, as the key phase decided them
    (compiler/dane.py).
    """
    config: Config = loaded.config
    source = loaded.source
    keys = keys or {}
    problems: list[Problem] = []
    notes: list[str] = []

    zone_specs = {z.name: z for z in config.zones}
    builders: dict[str, _ZoneBuilder] = {
        z.name: _ZoneBuilder(z.name, z, config.defaults.ttl) for z in config.zones
    }

    def builder_for(name: str) -> _ZoneBuilder:
        zone = longest_suffix(name, builders)
        if zone is None:
            # Not in a declared zone: the domain's records become an include fragment.
            builders[name] = _ZoneBuilder(name, None, config.defaults.ttl)
            zone = name
        return builders[zone]

    for zi, spec in enumerate(config.zones):
        for ri, extra in enumerate(spec.records):
            owner = spec.name if extra.name == "@" else f"{extra.name}.{spec.name}"
            value = extra.value
            if extra.type != "TXT":
                # Data that holds no domain name reads the same in any zone (and is cached so).
                origin = "." if nameless(extra.type) else spec.name
                canonical, error = check_value(extra.type, value, origin)
                if error is None:
                    value = canonical
                else:
                    at = ("zones", zi, "records", ri, "value")
                    problems.append(Problem(source.where(at), dotted(at), error))
            builders[spec.name].add(owner, extra.type, value, extra.ttl, "extra")

    for host in config.mail_hosts:
        zone = longest_suffix(host.name, zone_specs)
        if zone is None:
            continue
        for addr in host.ipv4:
            builders[zone].add(host.name, "A", addr, None, "host")
        for addr in host.ipv6:
            builders[zone].add(host.name, "AAAA", addr, None, "host")

    domains: list[DomainModel] = []
    for di, domain in enumerate(config.domains):
        zb = builder_for(domain.name)
        ttl = domain.ttl
        domains.append(
            _domain(config, domain, di, zb, ttl, keys, notes, problems, loaded, spf_cache)
        )
    # DMARC reports to another organisation whose zone is written here: authorise them.
    for owner in report_authorizations([(d.name, d.dmarc) for d in domains], list(builders)):
        builder_for(owner).add(owner, "TXT", REPORT_RECORD, None, "dmarc")

    for host_name, digests in sorted((tlsa or {}).items()):
        for digest in digests:
            owner = tlsa_owner(host_name)
            builder_for(host_name).add(owner, "TLSA", tlsa_value(digest), None, "dane")

    zone_index = {z.name: i for i, z in enumerate(config.zones)}
    zones = tuple(
        dataclasses.replace(builders[name].finish(), index=zone_index.get(name))
        for name in sorted(builders)
    )
    domain_index: dict[str, int] = {}
    for di, domain in enumerate(config.domains):
        domain_index.setdefault(domain.name, di)
    for built in zones:
        if built.name in zone_index:
            path: tuple[str | int, ...] = ("zones", zone_index[built.name])
        else:
            path = ("domains", domain_index[built.name])
        _check_conflicts(built, problems, source.where(path), dotted(path))
    milters = _targets(loaded, domains, problems, notes)
    if problems:
        raise ConfigError(problems)
    return MailModel(
        zones=zones,
        domains=tuple(domains),
        notes=tuple(notes),
        milters=milters,
        mail_hosts=tuple(h.name for h in config.mail_hosts),
        dane_outbound=any(h.dane is not None and h.dane.outbound for h in config.mail_hosts),
    )


def _domain(
    config: Config,
    domain: Domain,
    index: int,
    zb: _ZoneBuilder,
    ttl: int | None,
    keys: KeyIndex,
    notes: list[str],
    problems: list[Problem],
    loaded: LoadedConfig,
    spf_cache: SpfCache,
) -> DomainModel:
    merged_spf = _merge(config.defaults.spf, domain.spf)
    # Opted-in includes become ip4/ip6 terms (and _spfN records) from the SPF cache.
    spf, chain = published_spf(spf_cache, domain.name, merged_spf, spf_text(merged_spf))
    dmarc = dmarc_text(_merge(config.defaults.dmarc, domain.dmarc))
    zb.add(domain.name, "TXT", spf, ttl, "spf")
    for owner, text in chain:
        zb.add(owner, "TXT", text, ttl, "spf")
    zb.add(f"_dmarc.{domain.name}", "TXT", dmarc, ttl, "dmarc")
    add_trust_records(config, domain, ttl, zb.add)  # TLS-RPT and BIMI

    mx = domain.mx
    if mx is None:
        for host in config.mail_hosts:
            zb.add(domain.name, "MX", f"10 {host.name}.", ttl, "mx")
    else:
        for entry in mx:
            zb.add(domain.name, "MX", f"{entry.priority} {entry.host}.", ttl, "mx")

    dkim = _selectors(config.defaults.dkim, domain.dkim)
    sel_path = ("domains", index, "dkim") if domain.dkim is not None else ("defaults", "dkim")
    resolved: list[DkimKey] = []
    for si, sel in enumerate(dkim.selectors):
        public = sel.public_key
        known = keys.get((domain.name, sel.name))
        if known is not None:
            if known.algorithm != sel.algorithm:
                path = (*sel_path, "selectors", si, "algorithm")
                problems.append(
                    Problem(
                        loaded.source.where(path),
                        dotted(path),
                        f"{sel.name}._domainkey.{domain.name} is {sel.algorithm} here but the "
                        f"existing key is {known.algorithm}; a key's algorithm cannot change: "
                        "add a new selector and retire this one",
                    )
                )
            if public is None:
                public = known.public_key
        key = DkimKey(
            domain=domain.name,
            selector=sel.name,
            algorithm=sel.algorithm,
            bits=known.bits if known is not None else sel.key_bits,
            public_key="".join(public.split()) if public else None,
            key_file=key_path(config, domain.name, sel),
            testing=sel.testing,
            sign=sel.sign,
            revoked=known is not None and known.revoked,
        )
        resolved.append(key)
        if key.public_key is None:
            notes.append(
                f"{key.record_name}: no public key yet; `mailauth apply` creates it "
                "(the DKIM record is published once the key exists)"
            )
            continue
        zb.add(
            key.record_name,
            "TXT",
            dkim_text(key.algorithm, "" if key.revoked else key.public_key, testing=key.testing),
            ttl,
            "dkim",
        )
    mta_sts = add_mta_sts(loaded, domain, index, zb, problems)
    return DomainModel(
        name=domain.name,
        zone=zb.name,
        spf=spf,
        dmarc=dmarc,
        keys=tuple(resolved),
        mta_sts=mta_sts,
    )


def _targets(
    loaded: LoadedConfig, domains: list[DomainModel], problems: list[Problem], notes: list[str]
) -> tuple[Milter, ...]:
    """The milter chain in the order mail passes (each role once: the signer, then the
    DMARC verifier), then every configured target's own checks (backends/*.py)."""
    configured = list(loaded.config.targets.configured())
    ctx = BuildContext(
        loaded=loaded,
        domains=domains,
        notes=notes,
        configured=tuple(name for name, _, _ in configured),
        has_mta=any(backend.connects_milters for _, backend, _ in configured),
    )
    by_role: dict[MilterRole, list[tuple[str, Backend[Any], BaseModel]]] = {}
    for name, backend, settings in configured:
        if backend.milter_role is not None:
            by_role.setdefault(backend.milter_role, []).append((name, backend, settings))
    for role in sorted(by_role, key=lambda r: r.order):
        filling = by_role[role]
        first = filling[0][0]
        for other, _, _ in filling[1:]:
            problems.append(
                ctx.problem(
                    ("targets", other),
                    f"targets.{first} and targets.{other} are both set: choose one "
                    f"{role.what} ({role.why}); {role.hint}",
                )
            )
        if len(filling) > 1:
            continue
        name, backend, settings = filling[0]
        milter = backend.milter(settings, ctx)
        if milter is not None:
            ctx.milters.append((name, role, milter))
    for _, backend, settings in configured:
        problems.extend(backend.check(settings, ctx))
    return tuple(milter for _, _, milter in ctx.milters)

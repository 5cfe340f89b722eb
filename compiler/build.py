"""Config -> MailModel: merge defaults, place every name in its zone, resolve the records."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from mailauth.compiler.lint.reports import REPORT_RECORD, report_authorizations
from mailauth.compiler.model import (
    DkimKey,
    DomainModel,
    MailModel,
    Milter,
    Record,
    SoaModel,
    ZoneModel,
)
from mailauth.compiler.records import dkim_text, dmarc_text, spf_text
from mailauth.compiler.spf.flatten import published_spf
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.models import Config, Dkim, DkimSelector, Dmarc, Domain, Spf, Zone
from mailauth.schema.names import longest_suffix
from mailauth.schema.validate import LoadedConfig, dotted


@dataclass(frozen=True)
class KnownKey:
    """A public key known from the config, the lock file or the key store."""

    algorithm: str
    bits: int
    public_key: str


KeyIndex = Mapping[tuple[str, str], KnownKey]
PolicyT = TypeVar("PolicyT", Spf, Dmarc)


def _merge(default: PolicyT, override: PolicyT | None) -> PolicyT:
    """Field-by-field: what the domain wrote wins, the rest comes from defaults."""
    if override is None:
        return default
    if isinstance(override, Spf) and override.raw is not None:
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

    def add(self, owner: str, rtype: str, value: str, ttl: int | None, purpose: str) -> None:
        self.records.add(
            Record(
                _relative(owner, self.name),
                rtype,
                value,
                ttl if ttl is not None else self.ttl,
                purpose,  # type: ignore[arg-type]
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


def build_model(loaded: LoadedConfig, keys: KeyIndex | None = None) -> MailModel:
    """Resolve the config into records and keys; raises ConfigError on cross-field problems."""
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
                origin = "." if extra.type in _NAMELESS else spec.name
                canonical, error = _check_rdata(extra.type, value, origin)
                if error is None:
                    value = canonical
                else:
                    at = ("zones", zi, "records", ri, "value")
                    problems.append(Problem(source.where(at), dotted(at), error))
            if extra.type == "TXT" and config.targets.octodns is not None:
                octodns_problem = _octodns_txt_problem(value)
                if octodns_problem is not None:
                    at = ("zones", zi, "records", ri, "value")
                    problems.append(Problem(source.where(at), dotted(at), octodns_problem))
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
        domains.append(_domain(config, domain, di, zb, ttl, keys, notes, problems, loaded))
    # DMARC reports to another organisation whose zone is written here: authorise them.
    for owner in report_authorizations([(d.name, d.dmarc) for d in domains], list(builders)):
        builder_for(owner).add(owner, "TXT", REPORT_RECORD, None, "dmarc")

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
    milters = _milters(loaded, domains, problems, notes)
    if problems:
        raise ConfigError(problems)
    return MailModel(
        zones=zones,
        domains=tuple(domains),
        notes=tuple(notes),
        milters=milters,
        mail_hosts=tuple(h.name for h in config.mail_hosts),
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
) -> DomainModel:
    merged_spf = _merge(config.defaults.spf, domain.spf)
    # Opted-in includes become ip4/ip6 terms (and _spfN records) from the SPF cache.
    spf, chain = published_spf(loaded, domain.name, merged_spf, spf_text(merged_spf))
    dmarc = dmarc_text(_merge(config.defaults.dmarc, domain.dmarc))
    zb.add(domain.name, "TXT", spf, ttl, "spf")
    for owner, text in chain:
        zb.add(owner, "TXT", text, ttl, "spf")
    zb.add(f"_dmarc.{domain.name}", "TXT", dmarc, ttl, "dmarc")

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
        if config.targets.opendkim is not None and sel.algorithm == "ed25519" and sel.sign:
            path = (*sel_path, "selectors", si, "algorithm")
            problems.append(
                Problem(
                    loaded.source.where(path),
                    dotted(path),
                    "OpenDKIM 2.11 cannot sign with Ed25519: sign with dkimpy-milter "
                    "instead (replace targets.opendkim with targets.dkimpy_milter, which "
                    "signs with RSA and Ed25519 side by side), or set `sign: false` on this "
                    "selector to only publish it",
                )
            )
        if config.targets.dkimpy_milter is not None and sel.sign:
            twin = next(
                (s for s in dkim.selectors[:si] if s.sign and s.algorithm == sel.algorithm), None
            )
            if twin is not None:
                path = (*sel_path, "selectors", si)
                problems.append(
                    Problem(
                        loaded.source.where(path),
                        dotted(path),
                        f"dkimpy-milter signs with one {sel.algorithm} key per domain and "
                        f"selector {twin.name!r} already does for {domain.name}: set "
                        "`sign: false` on one of them (it stays published, as for a rotation)",
                    )
                )
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
            dkim_text(key.algorithm, key.public_key, testing=key.testing),
            ttl,
            "dkim",
        )
    return DomainModel(name=domain.name, zone=zb.name, spf=spf, dmarc=dmarc, keys=tuple(resolved))


def _signing_algorithms(domain: DomainModel) -> tuple[str, ...]:
    return tuple(sorted({k.algorithm for k in domain.keys if k.sign}))


def _dkimpy_tables_fit(
    loaded: LoadedConfig, domains: list[DomainModel], problems: list[Problem]
) -> None:
    """dkimpy-milter 1.2 looks every signing domain up in KeyTable AND KeyTableEd25519.

    It stops with a KeyError on the mail of a domain missing from one of them, so when
    both tables are written every signing domain needs both algorithms.
    """
    signing = [(i, d, _signing_algorithms(d)) for i, d in enumerate(domains)]
    if len({alg for _, _, algs in signing for alg in algs}) < 2:
        return
    for index, domain, algs in signing:
        if not algs or len(algs) == 2:
            continue
        other = next(d for _, d, theirs in signing if theirs and theirs != algs)
        missing = "ed25519" if algs == ("rsa",) else "rsa"
        path = ("domains", index, "name")
        problems.append(
            Problem(
                loaded.source.where(("domains", index)),
                dotted(path),
                f"{domain.name} signs only with {algs[0]} while {other.name} signs with "
                f"{missing}; dkimpy-milter 1.2 looks each signing domain up in both KeyTable "
                "and KeyTableEd25519 and fails on mail of a domain missing from one: give "
                f"{domain.name} a signing {missing} selector too, or stop signing with "
                f"{missing} elsewhere (`sign: false` on those selectors)",
            )
        )


def _authserv_default(config: Config) -> str:
    """The host's authserv-id: its first mail host, else the name gethostname() gives."""
    return config.mail_hosts[0].name if config.mail_hosts else "HOSTNAME"


def _milters(
    loaded: LoadedConfig, domains: list[DomainModel], problems: list[Problem], notes: list[str]
) -> tuple[Milter, ...]:
    """The milter chain in the order mail passes: the signer, then OpenDMARC."""
    config = loaded.config
    targets = config.targets
    where = loaded.source.where
    signer: Milter | None = None
    if targets.opendkim is not None and targets.dkimpy_milter is not None:
        problems.append(
            Problem(
                where(("targets", "dkimpy_milter")),
                "targets.dkimpy_milter",
                "targets.opendkim and targets.dkimpy_milter are both set: choose one signer "
                "(both would sign and verify the same mail); dkimpy-milter if any selector "
                "is ed25519, otherwise either",
            )
        )
    elif targets.opendkim is not None:
        signer = Milter(name="opendkim", socket=targets.opendkim.socket)
    elif targets.dkimpy_milter is not None:
        dkimpy = targets.dkimpy_milter
        signs = "s" in dkimpy.mode
        signer = Milter(
            name="dkimpy-milter",
            socket=dkimpy.socket,
            authserv_id=dkimpy.authserv_id or _authserv_default(config),
            inbound_daemon_name=dkimpy.inbound_daemon_name if signs else None,
            submission_daemon_name=dkimpy.submission_daemon_name if signs else None,
        )
        if signs:
            _dkimpy_tables_fit(loaded, domains, problems)
            if targets.postfix is None:
                # With targets.postfix, master.cf gets the tag (backends/postfix.py).
                notes.append(
                    "dkimpy-milter signs only mail that Postfix tags as submitted: in "
                    "master.cf, give the submission service `-o milter_macro_daemon_name="
                    f"{dkimpy.submission_daemon_name}` (and the cleanup service too, to sign "
                    "mail from local programs); everything else is verified, never signed"
                )
        clash = "milter_macro_daemon_name"
        if signs and targets.postfix is not None and clash in targets.postfix.parameters:
            path = ("targets", "postfix", "parameters", clash)
            problems.append(
                Problem(
                    where(path),
                    dotted(path),
                    f"set by mailauth to {dkimpy.inbound_daemon_name!r} "
                    "(targets.dkimpy_milter.inbound_daemon_name): mail under that name is "
                    "verified and never signed; remove it here: mailauth gives the submission "
                    f"services `-o milter_macro_daemon_name={dkimpy.submission_daemon_name}` "
                    "in master.cf (targets.postfix.submission_services)",
                )
            )
    chain = [signer] if signer is not None else []
    if targets.opendmarc is not None:
        chain.append(_opendmarc_milter(config, signer, notes))
    _check_postfix_reach(loaded, chain, problems)
    return tuple(chain)


_MILTER_TARGETS = {
    "opendkim": "opendkim",
    "dkimpy-milter": "dkimpy_milter",
    "opendmarc": "opendmarc",
}


def _check_postfix_reach(
    loaded: LoadedConfig, chain: list[Milter], problems: list[Problem]
) -> None:
    """Each milter socket can be written into smtpd_milters (inside the chroot, say).

    Checked here, with the socket's position, so validate refuses what plan would.
    """
    from mailauth.backends.postfix import MilterAddressError, postfix_address

    postfix = loaded.config.targets.postfix
    if postfix is None:
        return
    for milter in chain:
        try:
            postfix_address(milter, postfix)
        except MilterAddressError as exc:
            path = ("targets", _MILTER_TARGETS[milter.name], "socket")
            problems.append(Problem(loaded.source.where(path), dotted(path), str(exc)))


def _opendmarc_milter(config: Config, signer: Milter | None, notes: list[str]) -> Milter:
    """OpenDMARC after the signer, trusting the signer's authserv-id."""
    targets = config.targets
    assert targets.opendmarc is not None
    dmarc = targets.opendmarc
    own = dmarc.authserv_id or (
        signer.authserv_id if signer is not None and signer.authserv_id else None
    )
    own = own or _authserv_default(config)
    trusted = [own]
    if signer is not None and signer.authserv_id is not None:
        trusted.append(signer.authserv_id)
    elif signer is not None:
        # OpenDKIM writes its results under the MTA's host name (Postfix myhostname).
        trusted += [host.name for host in config.mail_hosts]
        if not config.mail_hosts:
            notes.append(
                "opendmarc: OpenDKIM writes Authentication-Results under Postfix's "
                "myhostname; add that name to targets.opendmarc.trusted_authserv_ids"
            )
    trusted += dmarc.trusted_authserv_ids
    unique: list[str] = []
    for name in trusted:
        if name.lower() not in (u.lower() for u in unique):
            unique.append(name)
    if signer is None:
        notes.append(
            "opendmarc runs without a DKIM verifier before it: it sees no DKIM results, "
            "so only SPF can make mail pass DMARC"
        )
    return Milter(
        name="opendmarc",
        socket=dmarc.socket,
        authserv_id=own,
        trusted_authserv_ids=tuple(unique),
    )


def _octodns_txt_problem(value: str) -> str | None:
    """Why octodns's TXT notation cannot carry ``value`` (found here, not at plan)."""
    from mailauth.backends.octodns import escape_txt

    try:
        escape_txt(value)
    except ValueError as exc:
        return f"{exc}; targets.octodns publishes this zone"
    return None


# Record types whose data holds no domain name: their text does not depend on the zone.
_NAMELESS = frozenset({"A", "AAAA", "CAA", "SSHFP", "TLSA"})


@functools.lru_cache(maxsize=16384)
def _check_rdata(rtype: str, value: str, zone: str) -> tuple[str, str | None]:
    """Let dnspython parse the value, so a typo fails here and not when named loads the zone.

    Returns the value in canonical form and None, or the value as written and the error.
    """
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.tokenizer

    # A zone-file comment or a line break inside the value would be dropped by the parser
    # below and by named alike: what was written would not be what is published.
    try:
        tokens = dns.tokenizer.Tokenizer(value)
        while not (token := tokens.get(want_comment=True)).is_eof():
            if token.is_comment():
                return value, f"not a valid {rtype} value: ';' starts a zone-file comment"
            if token.is_eol():
                return value, f"not a valid {rtype} value: it must be one line"
    except dns.exception.DNSException as exc:
        return value, f"not a valid {rtype} value: {exc}"
    try:
        rdata = dns.rdata.from_text(
            "IN", rtype, value, origin=dns.name.from_text(zone), relativize=False
        )
    except (dns.exception.DNSException, ValueError) as exc:
        return value, f"not a valid {rtype} value: {exc}"
    return rdata.to_text(origin=None, relativize=False), None

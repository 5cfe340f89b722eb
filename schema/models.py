"""The input language: what may be written in mailauth.yaml, as pydantic models.

Every model forbids unknown keys (a misspelt key must never be ignored silently) and is
frozen (the compiler derives everything from it and must not change it on the way).
Field names follow the record tags admins already know (``p``, ``sp``, ``adkim``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from mailauth.backends import REGISTRY, Backend
from mailauth.schema import names, strings
from mailauth.schema.rrtypes import EXTRA_TYPES, TYPES
from mailauth.schema.targets import KeyStore, State

SCHEMA_VERSION = 1


class StrictModel(BaseModel):
    # strict: `pct: true` must not become 1, nor `testing: "yes"` become True.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


DomainName = Annotated[str, AfterValidator(names.domain_name)]
OwnerName = Annotated[str, AfterValidator(names.owner_name)]
Ip4Net = Annotated[str, AfterValidator(lambda v: names.ip_network(v, 4))]
Ip6Net = Annotated[str, AfterValidator(lambda v: names.ip_network(v, 6))]
Ip4Addr = Annotated[str, AfterValidator(lambda v: names.ip_address(v, 4))]
Ip6Addr = Annotated[str, AfterValidator(lambda v: names.ip_address(v, 6))]
Ttl = Annotated[int, Field(ge=0, le=2_147_483_647)]
SafeText = Annotated[str, AfterValidator(lambda v: names.safe_text(v))]
FilePath = Annotated[str, AfterValidator(lambda v: names.safe_text(v, what="path", forbid='"'))]
HostPath = Annotated[str, AfterValidator(strings.host_path)]
LockFile = Annotated[str, AfterValidator(lambda v: strings.local_file(v, "lock_file"))]
SpfCacheFile = Annotated[str, AfterValidator(lambda v: strings.local_file(v, "spf_cache"))]

# One TXT record longer than this is refused: answers that large need TCP, and many
# resolvers and receivers give up on them (RFC 6376 3.6.2.2 and RFC 7208 3.4 ask for
# records that fit a 512-octet UDP answer). DKIM/SPF records over 1,024 octets draw a
# lint warning (DNS001) well before this.
MAX_TXT_OCTETS = 4000


def txt_size(value: str, what: str = "TXT value") -> str:
    """A TXT value that can still be served: at most MAX_TXT_OCTETS octets in all."""
    size = len(value.encode("utf-8"))
    if size > MAX_TXT_OCTETS:
        raise ValueError(
            f"{what} is {size} octets long, over the limit of {MAX_TXT_OCTETS}: an answer this "
            "large needs DNS over TCP, and many resolvers and mail receivers give up on it"
        )
    return value


# `name: 01` arrives as the int 1: it is refused as "not text", and the loader's record of
# what was written lets the message say `quote it: name: "01"` (see validate._describe).
SelectorName = Annotated[str, AfterValidator(names.selector_name)]

_SPF_DOMAIN_SPEC = re.compile(r"[A-Za-z0-9_.%{}+,/=-]+")


def _spf_domain_spec(value: str) -> str:
    """An SPF domain-spec (may hold macros like %{i}); no spaces or quotes."""
    if not _SPF_DOMAIN_SPEC.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid SPF domain-spec (RFC 7208 section 7.1)")
    return value


SpfDomainSpec = Annotated[str, AfterValidator(_spf_domain_spec)]


def _rule_id(value: str) -> str:
    """A lint rule ID as docs/rules.md lists them: letters then three digits (SPF011)."""
    text = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3,5}[0-9]{3}", text):
        raise ValueError(f"{value!r} is not a lint rule ID (like SPF011; see docs/rules.md)")
    return text


def _reason(value: str) -> str:
    names.safe_text(value)
    if len(value.strip()) < 3:
        raise ValueError("say why this rule does not apply here (the reason is required)")
    return value.strip()


_SPF_HOST_CIDR = re.compile(r"(?P<host>[^/]+)?(?:/(?P<v4>[0-9]{1,2}))?(?://(?P<v6>[0-9]{1,3}))?")


def _spf_host_cidr(value: str) -> str:
    """``host``, ``host/24``, ``/24`` or ``host/24//64`` for the a: and mx: mechanisms."""
    m = _SPF_HOST_CIDR.fullmatch(value)
    if not m or (m.group("host") and not _SPF_DOMAIN_SPEC.fullmatch(m.group("host"))):
        raise ValueError(f"{value!r} is not a valid host[/cidr] for an SPF a/mx mechanism")
    if m.group("v4") and int(m.group("v4")) > 32:
        raise ValueError(f"{value!r}: the IPv4 prefix length must be 0-32 (got /{m.group('v4')})")
    if m.group("v6") and int(m.group("v6")) > 128:
        raise ValueError(f"{value!r}: the IPv6 prefix length must be 0-128 (got //{m.group('v6')})")
    return value


SpfHostCidr = Annotated[str, AfterValidator(_spf_host_cidr)]


def _spf_raw(value: str) -> str:
    names.safe_text(value)
    if not value.lower().startswith("v=spf1") or (len(value) > 6 and value[6] != " "):
        raise ValueError(f"an SPF record starts with 'v=spf1 ' (got {value[:20]!r})")
    return txt_size(value, "the SPF record")


class Spf(StrictModel):
    """SPF (RFC 7208) as structured terms; ``raw`` replaces them all with a literal record."""

    mx: bool | list[SpfHostCidr] = Field(
        default=True, description="`true` for the bare mx mechanism, or a list of host[/cidr]"
    )
    a: bool | list[SpfHostCidr] = Field(
        default=False, description="`true` for the bare a mechanism, or a list of host[/cidr]"
    )
    ip4: list[Ip4Net] = Field(default_factory=list)
    ip6: list[Ip6Net] = Field(default_factory=list)
    include: list[SpfDomainSpec] = Field(default_factory=list)
    exists: list[SpfDomainSpec] = Field(default_factory=list)
    redirect: SpfDomainSpec | None = None
    all: Literal["-all", "~all", "?all", "+all"] | None = Field(
        default="~all",
        description="the final qualifier; `~all` (softfail) keeps forwarded mail flowing",
    )
    raw: Annotated[str, AfterValidator(_spf_raw)] | None = Field(
        default=None, description="a literal record, used as written"
    )
    flatten: list[SpfDomainSpec] = Field(
        default_factory=list,
        description="includes to publish as their ip4/ip6 addresses, read from the SPF cache "
        "(`mailauth spf refresh`); each must also be an include of the record",
    )


class DkimSelector(StrictModel):
    """One DKIM key of a domain, published at ``<name>._domainkey.<domain>``."""

    name: SelectorName
    algorithm: Literal["rsa", "ed25519"] = "rsa"
    bits: int | None = Field(default=None, description="RSA modulus size; default 2048")
    public_key: str | None = Field(
        default=None,
        description="base64 public key (DKIM p=); normally taken from mailauth.lock",
    )
    key_file: HostPath | None = Field(
        default=None, description="adopt an existing private key file instead of generating one"
    )
    testing: bool = Field(default=False, description="publish t=y (receivers treat as test)")
    sign: bool = Field(
        default=True, description="false: publish only (a key being rotated in or out)"
    )

    @field_validator("bits")
    @classmethod
    def _bits_fit(cls, bits: int | None, info: ValidationInfo) -> int | None:
        # A field validator (not a model one) so the error points at `bits:` itself.
        algorithm = info.data.get("algorithm")
        if algorithm == "ed25519" and bits not in (None, 256):
            raise ValueError("ed25519 keys have a fixed size; remove `bits`")
        if algorithm == "rsa" and bits is not None and bits < 1024:
            raise ValueError(f"RSA keys under 1024 bits are refused by receivers (got {bits})")
        if algorithm == "rsa" and bits is not None and bits > 8192:
            raise ValueError(f"RSA keys over 8192 bits are not supported (got {bits})")
        return bits

    @field_validator("public_key")
    @classmethod
    def _public_key_base64(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9+/=\s]+", value):
            raise ValueError("public_key must be base64 (the DKIM p= value)")
        return value

    @property
    def key_bits(self) -> int:
        if self.algorithm == "ed25519":
            return 256
        return self.bits or 2048


class Dkim(StrictModel):
    selectors: list[DkimSelector] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Dkim:
        seen: set[str] = set()
        for sel in self.selectors:
            if sel.name in seen:
                raise ValueError(f"selector {sel.name!r} is listed twice")
            seen.add(sel.name)
        return self


_REPORT_URI = re.compile(r"mailto:[^\s,;!\"\\]+@[A-Za-z0-9.-]+(?:![0-9]+[kmgt]?)?", re.I)


def _report_uri(value: str) -> str:
    """A DMARC report URI; a bare address gets its ``mailto:``."""
    text = value.strip()
    if "@" in text and not text.lower().startswith("mailto:"):
        text = "mailto:" + text
    if not _REPORT_URI.fullmatch(text):
        raise ValueError(f"{value!r} is not a mailto: report address (e.g. dmarc@example.org)")
    return text


ReportUri = Annotated[str, AfterValidator(_report_uri)]
Policy = Literal["none", "quarantine", "reject"]


def _fo(value: object) -> str:
    text = str(value)
    parts = text.split(":")
    if not parts or any(p not in ("0", "1", "d", "s") for p in parts):
        raise ValueError(f"fo={text!r}: expected options 0, 1, d, s separated by ':'")
    return text


class Dmarc(StrictModel):
    """DMARC (RFC 9989, read as RFC 7489 too). Each field is the record tag of that name."""

    p: Policy = "none"
    sp: Policy | None = None
    np: Policy | None = None
    adkim: Literal["r", "s"] | None = None
    aspf: Literal["r", "s"] | None = None
    rua: list[ReportUri] = Field(default_factory=list)
    ruf: list[ReportUri] = Field(default_factory=list)
    fo: Annotated[str, BeforeValidator(_fo)] | None = None
    t: bool | None = Field(default=None, description="RFC 9989 testing flag: t=y")
    psd: Literal["y", "n", "u"] | None = None
    pct: int | None = Field(
        default=None, ge=0, le=100, description="removed by RFC 9989; accepted with a warning"
    )


class Mx(StrictModel):
    host: DomainName
    priority: int = Field(default=10, ge=0, le=65535)


class MailHost(StrictModel):
    """A machine that sends mail for the domains: its address records go into managed zones."""

    name: DomainName
    ipv4: list[Ip4Addr] = Field(default_factory=list)
    ipv6: list[Ip6Addr] = Field(default_factory=list)


class Soa(StrictModel):
    mname: DomainName | None = Field(default=None, description="primary server; default first NS")
    rname: Annotated[str, AfterValidator(strings.rname)] | None = Field(
        default=None, description="contact, as hostmaster@example.org; default hostmaster@<zone>"
    )
    refresh: Ttl = 10800
    retry: Ttl = 600
    expire: Ttl = 1814400
    minimum: Ttl = 10800


class ExtraRecord(StrictModel):
    """A record that is not about mail but lives in a zone mailauth owns."""

    name: OwnerName = "@"
    type: Annotated[str, AfterValidator(lambda v: v.upper())]
    value: Annotated[str, AfterValidator(lambda v: names.safe_text(v, forbid=""))]
    ttl: Ttl | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EXTRA_TYPES:
            raise ValueError(
                f"record type {value!r} is not supported; use one of {', '.join(EXTRA_TYPES)}"
            )
        return value

    @field_validator("value")
    @classmethod
    def _txt_fits(cls, value: str, info: ValidationInfo) -> str:
        known = TYPES.get(info.data.get("type", ""))
        if known is not None and known.text:
            return txt_size(value)
        return value


class Zone(StrictModel):
    """A DNS zone: ``zone`` mode owns the whole file, ``include`` mode writes a fragment."""

    name: DomainName
    mode: Literal["zone", "include"] = "zone"
    ttl: Ttl | None = Field(default=None, description="the zone's $TTL; default defaults.ttl")
    soa: Soa = Field(default_factory=Soa)
    ns: list[DomainName] = Field(default_factory=list)
    records: list[ExtraRecord] = Field(default_factory=list)
    serial_file: HostPath | None = Field(
        default=None,
        description="include mode: the hand-kept zone file whose SOA serial mailauth bumps; "
        "it is read and must $INCLUDE the fragment",
    )
    zone_file: HostPath | None = Field(
        default=None,
        description="include mode: the hand-kept zone file that $INCLUDEs the fragment, "
        "checked but never edited (use serial_file instead to bump its serial)",
    )

    @field_validator("serial_file", "zone_file")
    @classmethod
    def _serial_file_mode(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("mode") == "zone" and value is not None:
            owns = "the SOA" if info.field_name == "serial_file" else "the zone file"
            raise ValueError(
                f"{info.field_name} is for include mode; in zone mode mailauth owns {owns}"
            )
        if info.field_name == "zone_file" and value is not None and info.data.get("serial_file"):
            raise ValueError(
                "set serial_file or zone_file, not both: serial_file is read and checked too"
            )
        return value

    @model_validator(mode="after")
    def _mode_fits(self) -> Zone:
        if self.mode == "zone" and not self.ns:
            raise ValueError("a zone that mailauth owns needs at least one `ns` server")
        return self


_DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(value: str) -> int:
    """``180d``, ``12h``, ``2w``... as seconds (s, m, h, d, w)."""
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration; write a number and a unit: 180d, 12h, 2w")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _duration(value: str) -> str:
    duration_seconds(value)
    return value.strip()


Duration = Annotated[str, AfterValidator(_duration)]


def _selector_scheme(value: str) -> str:
    """A selector naming scheme: text with {yyyy}, {mm}, {dd}; it must make a selector."""
    try:
        sample = value.format(yyyy="2026", mm="01", dd="01")
    except (KeyError, IndexError, ValueError):
        raise ValueError(
            f"{value!r}: a selector scheme may use only {{yyyy}}, {{mm}} and {{dd}}"
        ) from None
    names.selector_name(sample)
    return value


class Rotation(StrictModel):
    """How often DKIM keys are rotated, and how long old keys stay (docs/key-rotation.md)."""

    every: Duration = Field(
        default="180d",
        description="a key older than this is due for rotation (`keys rotate --due`, lint "
        "DKIM012); a number and a unit: s, m, h, d, w",
    )
    overlap: Duration = Field(
        default="7d",
        description="how long a replaced key stays published after promote, while mail "
        "signed with it may still be in transit",
    )
    revoke_for: Duration = Field(
        default="30d",
        description="how long a retired key is published revoked (empty p=) before its "
        "record and lock entry are removed",
    )
    selector: Annotated[str, AfterValidator(_selector_scheme)] = Field(
        default="{yyyy}{mm}",
        description="the name of a new selector made by `keys rotate`: {yyyy}, {mm}, {dd} "
        "are the date; a name already taken gets -2, -3...",
    )


class Defaults(StrictModel):
    """Values every domain starts from; a domain overrides them field by field."""

    ttl: Ttl = 3600
    spf: Spf = Field(default_factory=Spf)
    dmarc: Dmarc = Field(default_factory=Dmarc)
    dkim: Dkim = Field(default_factory=Dkim)
    rotation: Rotation = Field(
        default_factory=Rotation,
        description="DKIM key rotation policy (docs/key-rotation.md)",
    )


class Silence(StrictModel):
    """A lint rule (``SPF016``...) not reported for one domain, and why: the reason is required."""

    rule: Annotated[str, AfterValidator(_rule_id)]
    reason: Annotated[str, AfterValidator(_reason)]


class Domain(StrictModel):
    """A mail domain: the name in From: addresses that SPF, DKIM and DMARC vouch for."""

    name: DomainName
    mx: list[Mx] | None = Field(default=None, description="default: each mail host, priority 10")
    spf: Spf | None = None
    dmarc: Dmarc | None = None
    dkim: Dkim | None = None
    ttl: Ttl | None = None
    rotation: Rotation | None = Field(
        default=None, description="this domain's DKIM key rotation policy; default the defaults'"
    )
    silence: list[Silence] = Field(
        default_factory=list,
        description="lint rules not to report for this domain, each with the reason why",
    )


class TargetsBase(StrictModel):
    """What code asks of ``targets:``: which targets are set, and each one's settings.

    The fields themselves come from the backends' registry (``Targets`` below), so code
    outside the backends never names a target.
    """

    def settings(self, name: str) -> BaseModel | None:
        """The settings of target ``name``; None when it is not set (or not a target)."""
        value = getattr(self, name, None) if name in REGISTRY else None
        return value if isinstance(value, BaseModel) else None

    def configured(self) -> Iterator[tuple[str, Backend[Any], BaseModel]]:
        """The targets set in the file, in registry order, with their backend."""
        for name, backend in REGISTRY.items():
            value = self.settings(name)
            if value is not None:
                yield name, backend, value


def targets_model(registry: dict[str, Backend[Any]]) -> type[TargetsBase]:
    """The ``targets:`` model of a registry: one optional key per backend, its settings."""
    fields: dict[str, Any] = {
        name: (backend.settings | None, None) for name, backend in registry.items()
    }
    return create_model("Targets", __base__=TargetsBase, __module__=__name__, **fields)


def _default_targets() -> TargetsBase:
    """``targets:`` when the file has none: the backends on by default (bind's zones)."""
    return Targets(**{n: b.settings() for n, b in REGISTRY.items() if b.default_on})


if TYPE_CHECKING:
    Targets = TargetsBase
else:
    Targets = targets_model(REGISTRY)


class Config(StrictModel):
    """The whole of mailauth.yaml."""

    version: Literal[1] = 1
    root: FilePath | None = Field(default=None, description="output root; default ./out")
    defaults: Defaults = Field(default_factory=Defaults)
    mail_hosts: list[MailHost] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    domains: list[Domain] = Field(min_length=1)
    keys: KeyStore = Field(default_factory=KeyStore)
    lock_file: LockFile = Field(
        default="mailauth.lock", description="public keys, beside this file; commit it"
    )
    spf_cache: SpfCacheFile = Field(
        default="mailauth.spf.json",
        description="DNS answers for flattened and third-party SPF includes, beside this "
        "file; written by `mailauth spf refresh`; commit it",
    )
    state: State = Field(default_factory=State)
    targets: Targets = Field(default_factory=_default_targets)

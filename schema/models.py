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

from mailauth.backends import REGISTRY, Backend, platforms
from mailauth.schema import names, strings
from mailauth.schema.bimi import Bimi
from mailauth.schema.dane import Dane
from mailauth.schema.mta_sts import MtaSts
from mailauth.schema.rrtypes import EXTRA_TYPES, TYPES
from mailauth.schema.targets import KeyStore, State
from mailauth.schema.tlsrpt import TlsRpt

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
        default=True,
        description="`true`: the bare `mx` term (the domain's MX hosts may send); a list: one "
        "`mx:host[/cidr]` term each; `false`: none. One DNS lookup each",
    )
    a: bool | list[SpfHostCidr] = Field(
        default=False,
        description="`true`: the bare `a` term (the domain's own addresses may send); a list: "
        "one `a:host[/cidr]` term each; `false`: none. One DNS lookup each",
    )
    ip4: list[Ip4Net] = Field(
        default_factory=list,
        description="IPv4 addresses or CIDR ranges that may send, one `ip4:` term each (no DNS "
        "lookup); default none",
    )
    ip6: list[Ip6Net] = Field(
        default_factory=list,
        description="IPv6 addresses or CIDR ranges that may send, one `ip6:` term each (no DNS "
        "lookup); default none",
    )
    include: list[SpfDomainSpec] = Field(
        default_factory=list,
        description="domains whose SPF record also says who may send, one `include:` term each "
        "(one DNS lookup each, plus theirs; 10 in all); default none",
    )
    exists: list[SpfDomainSpec] = Field(
        default_factory=list,
        description="`exists:` terms: a domain-spec, usually with macros (`%{i}`), that matches "
        "when it has an A record; one DNS lookup each; default none",
    )
    redirect: SpfDomainSpec | None = Field(
        default=None,
        description="`redirect=`: use this domain's SPF record when no term matches; a domain "
        "that sets it drops the `all` of `defaults` unless it sets `all` too; null: none",
    )
    all: Literal["-all", "~all", "?all", "+all"] | None = Field(
        default="~all",
        description="the final term: `-all` fail, `~all` softfail (keeps forwarded mail "
        "flowing), `?all` neutral, `+all` pass anyone; null: none (as with `redirect`)",
    )
    raw: Annotated[str, AfterValidator(_spf_raw)] | None = Field(
        default=None,
        description="a literal record (`v=spf1 ...`, at most 4000 octets) published as written "
        "instead of the terms above; null: built from the terms",
    )
    flatten: list[SpfDomainSpec] = Field(
        default_factory=list,
        description="includes to publish as their ip4/ip6 addresses, read from the SPF cache "
        "(`mailauth spf refresh`); each must also be an include of the record. Addresses that "
        "do not fit go into chained `_spf1.<domain>`... TXT records; default none",
    )


class DkimSelector(StrictModel):
    """One DKIM key of a domain, published at ``<name>._domainkey.<domain>``."""

    name: SelectorName = Field(
        description="the selector: letters, digits and hyphens, labels split by dots (no `_`); "
        "the key's TXT record is `<name>._domainkey.<domain>`"
    )
    algorithm: Literal["rsa", "ed25519"] = Field(
        default="rsa",
        description="the key type, the record's `k=`: `rsa` (RSA-SHA256) or `ed25519` "
        "(RFC 8463; only dkimpy-milter signs with it); it cannot change once the key exists",
    )
    bits: int | None = Field(
        default=None,
        description="RSA modulus size in bits (1024-8192) of a key mailauth generates; null: "
        "2048. Ed25519 keys have no size (leave it unset, or 256)",
    )
    public_key: str | None = Field(
        default=None,
        description="base64 public key (the DKIM record's `p=`); null: taken from "
        "mailauth.lock, which apply fills in",
    )
    key_file: HostPath | None = Field(
        default=None,
        description="absolute path on the mail host of an existing private key to adopt "
        "instead of generating one under `keys.directory`; the signer's KeyTable names it",
    )
    testing: bool = Field(
        default=False,
        description="publish `t=y` in the DKIM record: receivers treat the domain as testing",
    )
    sign: bool = Field(
        default=True,
        description="`false`: publish the key's record but leave it out of the signer's key "
        "tables (a key being rotated in or out)",
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
    """A domain's DKIM keys (RFC 6376); a domain's ``dkim`` replaces ``defaults.dkim`` whole."""

    selectors: list[DkimSelector] = Field(
        default_factory=list,
        description="the DKIM keys, each name once; default none (no DKIM record, no signing)",
    )

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


def _dmarc_raw(value: str) -> str:
    """A literal DMARC record: one printable line starting ``v=DMARC1``, written byte for byte."""
    names.safe_text(value)
    if not value.startswith("v=DMARC1"):
        raise ValueError(f"a DMARC record starts with 'v=DMARC1' (got {value[:20]!r})")
    return txt_size(value, "the DMARC record")


class Dmarc(StrictModel):
    """DMARC (RFC 9989, read as RFC 7489 too). Each field is the record tag of that name;
    ``raw`` replaces them all with a literal record (what ``mailauth import`` keeps when
    mailauth would write an existing record differently)."""

    p: Policy = Field(
        default="none",
        description="`p=`: what receivers do with mail failing DMARC: `none` (only report), "
        "`quarantine` (spam folder), `reject`",
    )
    sp: Policy | None = Field(
        default=None, description="`sp=`: the policy for subdomains; null: left out (`p` applies)"
    )
    np: Policy | None = Field(
        default=None,
        description="`np=` (RFC 9989): the policy for subdomains that do not exist; null: left "
        "out (`sp`, then `p` applies)",
    )
    adkim: Literal["r", "s"] | None = Field(
        default=None,
        description="`adkim=`: DKIM alignment, `r` relaxed (same organisational domain) or `s` "
        "strict (same name); null: left out (relaxed)",
    )
    aspf: Literal["r", "s"] | None = Field(
        default=None,
        description="`aspf=`: SPF alignment, `r` relaxed (same organisational domain) or `s` "
        "strict (same name); null: left out (relaxed)",
    )
    rua: list[ReportUri] = Field(
        default_factory=list,
        description="`rua=`: addresses for aggregate reports (`mailto:` is added to a bare "
        "address); another organisation's address needs its `<domain>._report._dmarc` "
        "record, written when mailauth writes that zone; default none",
    )
    ruf: list[ReportUri] = Field(
        default_factory=list,
        description="`ruf=`: addresses for failure reports, written as `rua`; default none",
    )
    fo: Annotated[str, BeforeValidator(_fo)] | None = Field(
        default=None,
        description="`fo=`: when to send failure reports, options `0`, `1`, `d`, `s` joined by "
        "`:`; null: left out (receivers use `0`)",
    )
    t: bool | None = Field(
        default=None,
        description="`t=` (RFC 9989 testing flag): `true` writes `t=y`, `false` `t=n`; null: "
        "left out",
    )
    psd: Literal["y", "n", "u"] | None = Field(
        default=None,
        description="`psd=` (RFC 9989): `y` for a public suffix operator's record, `n` for an "
        "organisational domain, `u` unknown; null: left out",
    )
    pct: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="`pct=`: the percentage (0-100) of failing mail the policy applies to; "
        "removed by RFC 9989, accepted with a lint warning; null: left out",
    )
    raw: Annotated[str, AfterValidator(_dmarc_raw)] | None = Field(
        default=None,
        description="a literal record (`v=DMARC1; ...`, at most 4000 octets) published byte for "
        "byte instead of the tags above, which must then be left out; lint reads its tags; "
        "null: built from the tags",
    )

    @model_validator(mode="before")
    @classmethod
    def _raw_alone(cls, data: Any) -> Any:
        # Before validation, so a tag written with its default value (`p: none`) counts too.
        if isinstance(data, dict) and data.get("raw") is not None:
            tags = [key for key in data if key != "raw"]
            if tags:
                shown = ", ".join(f"`{key}`" for key in tags)
                raise ValueError(
                    f"`raw` replaces every tag of the record: remove {shown} (or `raw`)"
                )
        return data


class Mx(StrictModel):
    """One MX record of a domain: a server that receives its mail."""

    host: DomainName = Field(description="the mail server's host name, the MX record's target")
    priority: int = Field(
        default=10, ge=0, le=65535, description="the MX preference (0-65535): lowest tried first"
    )


class MailHost(StrictModel):
    """A machine that sends mail for the domains: its address records go into managed zones."""

    name: DomainName = Field(
        description="the host's name: an MX of each domain without `mx`; the first host's "
        "name is the milters' default authserv-id"
    )
    ipv4: list[Ip4Addr] = Field(
        default_factory=list,
        description="its IPv4 addresses: A records, written when a zone of `zones` holds its "
        "name; default none",
    )
    ipv6: list[Ip6Addr] = Field(
        default_factory=list,
        description="its IPv6 addresses: AAAA records, written when a zone of `zones` holds its "
        "name; default none",
    )
    dane: Dane | None = Field(
        default=None,
        description="DANE for SMTP (RFC 7672): TLSA records for its port 25, from the "
        "certificate it serves; null: none",
    )


class Soa(StrictModel):
    """The SOA record of a zone-mode zone; times in seconds. The serial is mailauth's."""

    mname: DomainName | None = Field(
        default=None, description="SOA MNAME, the primary server; null: the zone's first `ns`"
    )
    rname: Annotated[str, AfterValidator(strings.rname)] | None = Field(
        default=None,
        description="SOA RNAME, the contact, as hostmaster@example.org; null: hostmaster@<zone>",
    )
    refresh: Ttl = Field(
        default=10800, description="SOA REFRESH: seconds between secondaries' serial checks"
    )
    retry: Ttl = Field(default=600, description="SOA RETRY: seconds before a failed refresh again")
    expire: Ttl = Field(
        default=1814400,
        description="SOA EXPIRE: seconds a secondary that cannot refresh keeps answering",
    )
    minimum: Ttl = Field(
        default=10800, description="SOA MINIMUM: seconds resolvers cache a negative answer"
    )


class ExtraRecord(StrictModel):
    """A record that is not about mail but lives in a zone mailauth owns."""

    name: OwnerName = Field(
        default="@",
        description="the owner name relative to the zone: `@` the apex, `*` a wildcard label",
    )
    type: Annotated[str, AfterValidator(lambda v: v.upper())] = Field(
        description=f"the record type, in any case: one of {', '.join(EXTRA_TYPES)}"
    )
    value: Annotated[str, AfterValidator(lambda v: names.safe_text(v, forbid=""))] = Field(
        description="the record data as in a zone file (`10 mx.example.org.`); names without "
        "a final dot are relative to the zone; a TXT value is the text itself"
    )
    ttl: Ttl | None = Field(default=None, description="seconds; null: the zone's TTL")

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

    name: DomainName = Field(
        description="the zone's apex; mail domains and mail hosts below it get their records here"
    )
    mode: Literal["zone", "include"] = Field(
        default="zone",
        description="`zone`: mailauth writes the whole zone file (SOA, NS and all); `include`: "
        "it writes a fragment that a hand-kept zone file `$INCLUDE`s",
    )
    ttl: Ttl | None = Field(
        default=None,
        description="seconds: the zone's `$TTL`, for its records without their own; null: "
        "`defaults.ttl`",
    )
    soa: Soa = Field(
        default_factory=Soa, description="the SOA record (zone mode); default: SOA's defaults"
    )
    ns: list[DomainName] = Field(
        default_factory=list,
        description="the name servers: the apex NS records and the default SOA MNAME; zone mode "
        "needs at least one",
    )
    records: list[ExtraRecord] = Field(
        default_factory=list, description="other records of the zone; default none"
    )
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
    dnssec: bool = Field(
        default=False,
        description="the zone is signed with DNSSEC where it is served (mailauth does not sign "
        "it); TLSA records in an unsigned zone are ignored by receivers (lint DANE001)",
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

    ttl: Ttl = Field(
        default=3600, description="seconds: the TTL of the records of zones that set no `ttl`"
    )
    spf: Spf = Field(
        default_factory=Spf,
        description="the SPF record every domain starts from; a domain's `spf` overrides it "
        "field by field",
    )
    dmarc: Dmarc = Field(
        default_factory=Dmarc,
        description="the DMARC record every domain starts from; a domain's `dmarc` overrides it "
        "field by field",
    )
    dkim: Dkim = Field(
        default_factory=Dkim,
        description="the DKIM selectors of every domain that has no `dkim` of its own",
    )
    rotation: Rotation = Field(
        default_factory=Rotation,
        description="DKIM key rotation policy (docs/key-rotation.md)",
    )
    tls_rpt: TlsRpt | None = Field(
        default=None,
        description="the TLS-RPT record (RFC 8460) of every domain that has no `tls_rpt` of "
        "its own; null: none",
    )
    mta_sts: MtaSts | None = Field(
        default=None,
        description="the MTA-STS policy every domain starts from; a domain's `mta_sts` "
        "overrides it field by field; null: no MTA-STS unless a domain sets it",
    )


class Silence(StrictModel):
    """A lint rule (``SPF016``...) not reported for one domain, and why: the reason is required."""

    rule: Annotated[str, AfterValidator(_rule_id)] = Field(
        description="the lint rule ID, as docs/rules.md lists them (`SPF016`)"
    )
    reason: Annotated[str, AfterValidator(_reason)] = Field(
        description="why the rule does not apply here; required, at least 3 characters"
    )


class Domain(StrictModel):
    """A mail domain: the name in From: addresses that SPF, DKIM and DMARC vouch for."""

    name: DomainName = Field(
        description="the domain: its SPF, DMARC, MX and DKIM records go into the zone of "
        "`zones` that holds it, else into an include fragment named after it"
    )
    mx: list[Mx] | None = Field(
        default=None, description="its MX records; null: one per mail host, priority 10"
    )
    spf: Spf | None = Field(
        default=None,
        description="its SPF record, TXT at the domain: fields set here override "
        "`defaults.spf` (`raw` replaces it); null: `defaults.spf`",
    )
    dmarc: Dmarc | None = Field(
        default=None,
        description="its DMARC record, TXT at `_dmarc.<domain>`: fields set here override "
        "`defaults.dmarc`; null: `defaults.dmarc`",
    )
    dkim: Dkim | None = Field(
        default=None,
        description="its DKIM keys, replacing `defaults.dkim` whole; null: `defaults.dkim`",
    )
    mta_sts: MtaSts | Literal[False] | None = Field(
        default=None,
        description="its MTA-STS policy (RFC 8461): the policy file, `_mta-sts` TXT and "
        "`mta-sts.<domain>` records; fields set here override `defaults.mta_sts`; `false`: "
        "none for this domain; null: `defaults.mta_sts`",
    )
    ttl: Ttl | None = Field(
        default=None, description="seconds: the TTL of its records; null: the zone's TTL"
    )
    rotation: Rotation | None = Field(
        default=None, description="this domain's DKIM key rotation policy; default the defaults'"
    )
    silence: list[Silence] = Field(
        default_factory=list,
        description="lint rules not to report for this domain, each with the reason why",
    )
    tls_rpt: TlsRpt | None = Field(
        default=None,
        description="its TLS-RPT record (RFC 8460), TXT at `_smtp._tls.<domain>`, replacing "
        "`defaults.tls_rpt` whole; null: `defaults.tls_rpt`",
    )
    bimi: Bimi | None = Field(
        default=None,
        description="its BIMI record, TXT at `<selector>._bimi.<domain>`: the logo receivers "
        "may show beside its mail once DMARC is enforced; null: none",
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
        name: (backend.settings | None, Field(default=None, description=_target_help(backend)))
        for name, backend in registry.items()
    }
    return create_model(
        "Targets",
        __base__=TargetsBase,
        __module__=__name__,
        __doc__="The programs mailauth writes files for: one key per target, its settings.",
        **fields,
    )


def _target_help(backend: Backend[Any]) -> str:
    """A ``targets:`` key's description: its settings' summary, and what leaving it out means."""
    summary = " ".join((backend.settings.__doc__ or backend.name).split("\n\n")[0].split())
    off = "null or absent: writes nothing"
    if backend.default_on:
        off += " (on, with its defaults, when the file has no `targets:` key)"
    return f"{summary.rstrip('.')}; {off}"


def _default_targets() -> TargetsBase:
    """``targets:`` when the file has none: the backends on by default (bind's zones)."""
    return Targets(**{n: b.settings() for n, b in REGISTRY.items() if b.default_on})


if TYPE_CHECKING:
    Targets = TargetsBase
else:
    Targets = targets_model(REGISTRY)


class Config(StrictModel):
    """The whole of mailauth.yaml."""

    version: Literal[1] = Field(default=1, description="the version of this format; only 1")
    platform: platforms.Platform = Field(
        default=platforms.DEFAULT,
        description="the mail host's distribution: sets the default paths of the key store "
        "and of every target (debian: /etc/bind, /etc/dkimkeys...; rhel: /var/named, "
        "/etc/opendkim/keys...); a path set in the file wins",
    )
    root: FilePath | None = Field(
        default=None,
        description="the directory that stands for the host's `/` when files are written, "
        "relative to this file; `--root` wins; null: ./out in the current directory",
    )
    defaults: Defaults = Field(
        default_factory=Defaults, description="what every domain starts from"
    )
    mail_hosts: list[MailHost] = Field(
        default_factory=list,
        description="the machines that handle mail for the domains; default none",
    )
    zones: list[Zone] = Field(
        default_factory=list,
        description="the DNS zones mailauth writes records into; default none (each domain "
        "gets an include fragment of its own)",
    )
    domains: list[Domain] = Field(min_length=1, description="the mail domains; at least one")
    keys: KeyStore = Field(
        default_factory=KeyStore, description="where DKIM private keys live on the mail host"
    )
    lock_file: LockFile = Field(
        default="mailauth.lock",
        description="the DKIM public keys, relative to this file; apply adds each key it makes "
        "or adopts; commit it",
    )
    spf_cache: SpfCacheFile = Field(
        default="mailauth.spf.json",
        description="DNS answers for flattened and third-party SPF includes, beside this "
        "file; written by `mailauth spf refresh`; commit it",
    )
    state: State = Field(
        default_factory=State,
        description="mailauth's own files on the host: manifest, apply lock, backups",
    )
    targets: Targets = Field(
        default_factory=_default_targets,
        description="the programs to write files for, each with its settings; without this "
        "key, the targets on by default, with their defaults",
    )

    @model_validator(mode="before")
    @classmethod
    def _platform_paths(cls, data: Any) -> Any:
        """Fill the paths the file leaves unset from its platform's column
        (backends/platforms.py), before the fields are checked: each filled value passes
        the same checks as a written one."""
        on = [name for name, backend in REGISTRY.items() if backend.default_on]
        return platforms.with_preset(data, on)

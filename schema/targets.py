"""Settings of the mail-server side: the key store, OpenDKIM, Postfix, and where state lives.

Paths here are paths on the mail host; ``--root`` is put in front of them when files are
written, never inside the files, so a tree applied under a staging root can be copied
onto the host unchanged.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from mailauth.schema import names, strings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


AbsPath = Annotated[str, AfterValidator(strings.host_path)]
UserName = Annotated[str, AfterValidator(strings.user_name)]
# json_schema_extra: editors still see the patterns; the checks with their messages are
# the validators (strings.py, fullmatch).
Umask = Annotated[
    str, AfterValidator(strings.umask), Field(json_schema_extra={"pattern": "^[0-7]{3,4}$"})
]
MilterSocket = Annotated[str, AfterValidator(strings.milter_socket)]


def _trusted_host(value: str) -> str:
    """An address, a CIDR range, a host name or a ``*.domain`` pattern (OpenDKIM peer lists)."""
    text = strings.plain_ip(value)
    try:
        ipaddress.ip_network(text, strict=False)
        return text
    except ValueError:
        pass
    name = text[2:] if text.startswith("*.") else text
    try:
        names.domain_name(name) if "." in name else strings.single_label_host(name)
    except ValueError:
        raise ValueError(f"{value!r} is not an address, CIDR range or host name") from None
    return text


def _any_ip(value: str) -> str:
    text = strings.plain_ip(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


class KeyStore(_Strict):
    """Where private keys live on the mail host, and who owns them."""

    directory: AbsPath = "/etc/opendkim/keys"
    file: Annotated[
        str,
        AfterValidator(
            lambda v: strings.path_template(
                v,
                ("domain", "selector"),
                {"domain": "example.org", "selector": "sel"},
                what="keys.file",
            )
        ),
    ] = Field(
        default="{domain}/{selector}.private",
        description="layout below directory; {domain} and {selector} are filled in",
    )
    owner: UserName | None = Field(default=None, description="e.g. opendkim (needs root)")
    group: UserName | None = Field(default=None, description="e.g. opendkim (needs root)")


class State(_Strict):
    """mailauth's own files on the host: the manifest, the apply lock, backups."""

    directory: AbsPath = "/var/lib/mailauth"
    backups: AbsPath = "/var/backups/mailauth"


class OpenDkimTarget(_Strict):
    """OpenDKIM's configuration file and tables (the article's setup, done right)."""

    config: AbsPath = "/etc/opendkim.conf"
    directory: AbsPath = Field(
        default="/etc/opendkim", description="where KeyTable, SigningTable, TrustedHosts go"
    )
    socket: MilterSocket = "inet:8891@127.0.0.1"
    mode: Literal["s", "v", "sv"] = "sv"
    user: UserName | None = Field(default="opendkim", description="UserID; null to keep root")
    group: UserName | None = None
    umask: Umask = "007"
    pid_file: AbsPath = "/run/opendkim/opendkim.pid"
    canonicalization: Literal[
        "relaxed/relaxed", "relaxed/simple", "simple/simple", "simple/relaxed"
    ] = "relaxed/simple"
    trusted_hosts: list[Annotated[str, AfterValidator(_trusted_host)]] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="hosts whose mail is signed, not verified (InternalHosts)",
    )
    nameservers: list[Annotated[str, AfterValidator(_any_ip)]] = Field(
        default_factory=list, description="resolvers OpenDKIM asks instead of the system's"
    )
    syslog: bool = True


_SERVICE_KEY = r"^[A-Za-z0-9_.:-]+/(inet|unix|unix-dgram|fifo|pass)$"
#: main.cf parameters mailauth shares with the host (postfix_milters): never under
#: ``parameters``, which replace a value, where these are merged or kept.
_MERGED = ("smtpd_milters", "non_smtpd_milters")
_OWN_FIELDS = ("milter_default_action", "milter_protocol")


class PostfixTarget(_Strict):
    """Postfix: connect the milters in main.cf (and tag the submission services in
    master.cf), or write a snippet and a postconf script for other tooling."""

    mode: Literal["edit", "snippet"] = "edit"
    main_cf: AbsPath = "/etc/postfix/main.cf"
    master_cf: AbsPath | None = Field(
        default=None,
        description="the master.cf edited for the signing tag; default beside main_cf",
    )
    create: bool = Field(
        default=False,
        description="create main.cf/master.cf when the root has none (else an error: a "
        "staging root must hold the host's files)",
    )
    snippet_file: AbsPath = "/etc/postfix/mailauth-main.cf"
    script_file: AbsPath = "/etc/postfix/mailauth-postconf.sh"
    chroot: bool = Field(
        default=True, description="smtpd runs chrooted in queue_directory (Debian's default)"
    )
    queue_directory: AbsPath = "/var/spool/postfix"
    milter_default_action: Literal["accept", "reject", "tempfail", "quarantine"] | None = Field(
        default=None, description="null keeps the host's value (plan notes what it means)"
    )
    milter_protocol: Literal[2, 3, 4, 5, 6] | None = Field(
        default=None, description="null keeps the host's value"
    )
    submission_services: list[Annotated[str, Field(pattern=_SERVICE_KEY)]] = Field(
        default_factory=lambda: ["submission/inet", "submissions/inet"],
        description="master.cf services (name/type) that get the signing tag when the signer "
        "signs tagged mail only (dkimpy-milter); created from Debian's lines when absent",
    )
    sign_local_mail: bool = Field(
        default=False,
        description="also tag cleanup/unix in master.cf, so mail from local sendmail is signed",
    )
    parameters: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$"), AfterValidator(strings.postfix_name)],
        Annotated[str, AfterValidator(strings.postfix_value)],
    ] = Field(
        default_factory=dict,
        description="other main.cf parameters to set; the host's value comes back when one "
        "is removed here",
    )

    @model_validator(mode="after")
    def _no_milter_override(self) -> PostfixTarget:
        merged = sorted(set(_MERGED) & set(self.parameters))
        if merged:
            raise ValueError(
                f"{', '.join(merged)}: mailauth merges its own milters into the host's list "
                "and keeps the host's entries in place, so the list is not set here; list the "
                "host's other milters in main.cf itself"
            )
        fields = sorted(set(_OWN_FIELDS) & set(self.parameters))
        if fields:
            raise ValueError(
                f"{', '.join(fields)}: set it as targets.postfix.{fields[0]}, not under "
                "parameters (unset, the host's value is kept)"
            )
        return self


# pydantic's `pattern` is Rust regex, where `$` is the end of text (a trailing newline fails).
_OCTODNS_ID = r"^[A-Za-z0-9_-]+$"
_DOTTED_CLASS = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
_SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "credential")


def _no_literal_secrets(options: object, where: str = "options") -> None:
    """A secret-looking option must be ``env/VAR``: mailauth.yaml is committed, secrets are not."""
    if isinstance(options, dict):
        for name, value in options.items():
            here = f"{where}.{name}"
            secretish = any(word in str(name).lower() for word in _SECRET_WORDS)
            if secretish and isinstance(value, str) and not value.startswith("env/"):
                raise ValueError(
                    f"{here} looks like a secret: write env/VARIABLE (octodns reads it from "
                    "the environment) instead of the value itself, which would be committed"
                )
            _no_literal_secrets(value, here)
    elif isinstance(options, list):
        for index, item in enumerate(options):
            _no_literal_secrets(item, f"{where}[{index}]")


class OctodnsProvider(_Strict):
    """The octodns provider the generated octodns config pushes the zones to."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Annotated[str, Field(pattern=_OCTODNS_ID)] = Field(
        default="dns", description="the provider's name in the octodns config"
    )
    class_: Annotated[str, Field(pattern=_DOTTED_CLASS)] = Field(
        alias="class", description="e.g. octodns_powerdns.PowerDnsProvider"
    )
    options: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="the provider's settings; secrets as env/VARIABLE, never the value",
    )

    @model_validator(mode="after")
    def _checked(self) -> OctodnsProvider:
        if self.id == "mailauth":
            raise ValueError("id 'mailauth' is the source of the zone files; pick another")
        clash = sorted({"class", "id"} & set(self.options))
        if clash:
            raise ValueError(f"options may not set {', '.join(clash)}; they have their own keys")
        _no_literal_secrets(self.options)
        return self


class OctodnsTarget(_Strict):
    """octodns: one YamlProvider zone file per zone, and a config that pushes them."""

    directory: AbsPath = Field(
        default="/etc/octodns/mailauth", description="where the <zone>.yaml files go"
    )
    config_file: AbsPath | None = Field(
        default=None, description="the octodns config; default <directory>/octodns-config.yaml"
    )
    provider: OctodnsProvider | None = Field(
        default=None, description="where octodns-sync pushes; without it no config is written"
    )
    root_ns: bool = Field(
        default=False,
        description="publish the apex NS of zone-mode zones (only if the provider serves the "
        "zone from exactly those name servers)",
    )


AuthservId = Annotated[
    str,
    AfterValidator(strings.authserv_id),
    Field(
        description="a host name, or HOSTNAME for gethostname()",
        json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
    ),
]
MacroValue = Annotated[
    str,
    AfterValidator(strings.macro_value),
    Field(json_schema_extra={"pattern": "^[A-Za-z0-9_.-]+$"}),
]
Canonicalization = Literal["relaxed/relaxed", "relaxed/simple", "simple/simple", "simple/relaxed"]


def _dkimpy_host(value: str) -> str:
    """An InternalHosts entry dkimpy-milter understands: it drops the whole list (and then
    treats no client as internal) on a name without a dot, such as ``localhost``."""
    text = _trusted_host(value)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        if "." not in text.lstrip("*."):
            raise ValueError(
                f"{value!r}: dkimpy-milter knows addresses, CIDR ranges and dotted names only"
            ) from None
    return text


class DkimpyMilterTarget(_Strict):
    """dkimpy-milter: signs with RSA and Ed25519 side by side, verifies what comes in."""

    config: AbsPath = "/etc/dkimpy-milter/dkimpy-milter.conf"
    directory: AbsPath = Field(
        default="/etc/dkimpy-milter",
        description="where KeyTable, KeyTableEd25519 and SigningTable go",
    )
    socket: MilterSocket = "inet:8892@127.0.0.1"
    mode: Literal["s", "v", "sv"] = "sv"
    user: UserName = Field(
        default="dkimpy-milter",
        description="UserID it switches to after reading the keys (it never keeps root)",
    )
    group: UserName | None = None
    umask: Umask = "007"
    pid_file: AbsPath = "/run/dkimpy-milter/dkimpy-milter.pid"
    canonicalization: Canonicalization = "relaxed/simple"
    internal_hosts: list[Annotated[str, AfterValidator(_dkimpy_host)]] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        min_length=1,
        description="clients whose mail is not verified (InternalHosts)",
    )
    authserv_id: AuthservId | None = Field(
        default=None,
        description="authserv-id of its Authentication-Results; default the first mail host",
    )
    submission_daemon_name: MacroValue = Field(
        default="ORIGINATING",
        description="{daemon_name} of the submission service (MacroList: not verified)",
    )
    inbound_daemon_name: MacroValue = Field(
        default="VERIFYING",
        description="{daemon_name} of every other service (MacroListVerify: never signed); "
        "mailauth sets it as Postfix's milter_macro_daemon_name",
    )
    minimum_key_bits: int = Field(default=1024, ge=1024, le=8192)
    dns_timeout: int = Field(default=5, ge=1, le=60)
    syslog: bool = True

    @model_validator(mode="after")
    def _distinct_names(self) -> DkimpyMilterTarget:
        if self.submission_daemon_name == self.inbound_daemon_name:
            raise ValueError(
                "submission_daemon_name and inbound_daemon_name must differ: they are how "
                "dkimpy-milter tells mail to sign from mail to verify"
            )
        return self


class OpenDmarcTarget(_Strict):
    """OpenDMARC: judges inbound mail by the sender's DMARC policy."""

    config: AbsPath = "/etc/opendmarc.conf"
    socket: MilterSocket = "inet:8893@127.0.0.1"
    user: UserName | None = Field(default="opendmarc", description="UserID; null to keep root")
    group: UserName | None = None
    umask: Umask = "007"
    pid_file: AbsPath = "/run/opendmarc/opendmarc.pid"
    authserv_id: AuthservId | None = Field(
        default=None, description="authserv-id of its Authentication-Results; default the signer's"
    )
    trusted_authserv_ids: list[AuthservId] = Field(
        default_factory=list,
        description="more authserv-ids whose results it believes (its own and the signer's "
        "are always trusted)",
    )
    reject_failures: bool = Field(
        default=False,
        description="enforce the sender's policy: reject (5xx) mail failing DMARC of a p=reject "
        "domain; false only adds the Authentication-Results header",
    )
    ignore_authenticated_clients: bool = Field(
        default=True, description="do not judge mail from SMTP AUTH clients (your own users)"
    )
    spf: Literal["self", "fallback", "headers"] = Field(
        default="self",
        description="self: always check SPF itself, ignore SPF results in headers; fallback: "
        "check itself only when no trusted header has a result; headers: never check itself",
    )
    history_file: AbsPath | None = Field(
        default=None, description="record data for aggregate reports (opendmarc-importstats)"
    )
    public_suffix_list: AbsPath | None = Field(
        default=None,
        description="e.g. /usr/share/publicsuffix/public_suffix_list.dat (package "
        "publicsuffix): needed for relaxed alignment of subdomains",
    )
    required_headers: bool = Field(
        default=False, description="reject mail whose header breaks RFC 5322 field counts"
    )
    syslog: bool = True

"""The backend-neutral MailModel: every record of every zone, every signing key, resolved.

Backends render from this and their own target settings (schema/targets.py): policy
(defaults, which zone a name falls in, what a DMARC record says) is decided once, by
compiler/build.py, and stored here, never re-derived per target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from mailauth.schema.rrtypes import OTHER_ORDER, SORT_ORDER

if TYPE_CHECKING:  # compiler/mta_sts.py reads the schema, which imports the backends
    from mailauth.compiler.mta_sts import MtaStsPolicy

#: Why a record is in a zone: the closed set every zone renderer must place (bind.py's
#: SECTIONS; tests/test_targets_registry.py checks each renderer handles each one).
RecordPurpose = Literal[
    "ns", "mx", "host", "spf", "dkim", "dmarc", "extra", "tlsrpt", "bimi", "mta-sts", "dane"
]
RECORD_PURPOSES: tuple[RecordPurpose, ...] = get_args(RecordPurpose)


@dataclass(frozen=True, order=True)
class Record:
    """One resource record. ``name`` is relative to the zone (``@`` for the apex).

    For TXT, ``value`` is the text itself (unquoted, unsplit); backends quote and split it
    as their format wants. For other types it is the presentation form (``10 mail.x.``).
    """

    name: str
    type: str
    value: str
    ttl: int
    purpose: RecordPurpose = "extra"

    def sort_key(self) -> tuple[bool, tuple[str, ...], int, str]:
        labels = tuple(reversed(self.name.split("."))) if self.name != "@" else ()
        return (self.name != "@", labels, SORT_ORDER.get(self.type, OTHER_ORDER), self.value)

    def fqdn(self, zone: str) -> str:
        """The owner as an absolute name with its trailing dot."""
        return f"{zone}." if self.name == "@" else f"{self.name}.{zone}."


@dataclass(frozen=True)
class SoaModel:
    mname: str
    rname: str
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True)
class ZoneModel:
    """A zone and the records mailauth puts in it (all of them in ``zone`` mode)."""

    name: str
    mode: Literal["zone", "include"]
    ttl: int
    soa: SoaModel | None
    records: tuple[Record, ...]
    serial_file: str | None = None
    zone_file: str | None = None  # hand-kept, read and checked, never edited
    index: int | None = None  # its place in mailauth.yaml's zones:, for positioned errors

    @property
    def handkept_file(self) -> str | None:
        """The hand-kept zone file that includes the fragment, if mailauth knows it."""
        return self.serial_file or self.zone_file

    def find(self, name: str, rtype: str) -> tuple[Record, ...]:
        return tuple(r for r in self.records if r.name == name and r.type == rtype)


@dataclass(frozen=True)
class DkimKey:
    """A DKIM selector of a signing domain, with its public key once one is known."""

    domain: str
    selector: str
    algorithm: Literal["rsa", "ed25519"]
    bits: int
    public_key: str | None
    key_file: str | None = None
    testing: bool = False
    sign: bool = True
    #: Published with an empty p= (RFC 6376 3.6.1: the key is revoked); never signs.
    revoked: bool = False

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


@dataclass(frozen=True)
class DomainModel:
    """A mail domain with its resolved policies."""

    name: str
    zone: str
    spf: str
    dmarc: str
    keys: tuple[DkimKey, ...]
    mta_sts: MtaStsPolicy | None = None  # its MTA-STS policy (RFC 8461), if it has one


@dataclass(frozen=True)
class Milter:
    """A mail filter the MTA talks to, in the order mail passes through them.

    ``socket`` is in the milter's own notation (``inet:8891@127.0.0.1``,
    ``local:/path``); each MTA backend translates it into its own.
    ``authserv_id`` names it in the Authentication-Results headers it writes (None: the
    MTA's own host name, the milter's default); ``trusted_authserv_ids`` are the ids whose
    results it believes. ``inbound_daemon_name`` is the ``{daemon_name}`` macro the MTA must
    send for every service except submission: mail carrying it is verified, never signed.
    ``submission_daemon_name`` is the one the submission services must send instead (set
    in master.cf) for mail to be signed; None when the milter signs without a tag.
    """

    name: str
    socket: str
    authserv_id: str | None = None
    trusted_authserv_ids: tuple[str, ...] = ()
    inbound_daemon_name: str | None = None
    submission_daemon_name: str | None = None


@dataclass(frozen=True)
class MailModel:
    """Everything the backends need, decided."""

    zones: tuple[ZoneModel, ...]
    domains: tuple[DomainModel, ...]
    notes: tuple[str, ...] = field(default=())
    milters: tuple[Milter, ...] = field(default=())
    mail_hosts: tuple[str, ...] = field(default=())
    dane_outbound: bool = False  # a mail host asks Postfix for outbound DANE (RFC 7672)

    def zone(self, name: str) -> ZoneModel:
        for zone in self.zones:
            if zone.name == name:
                return zone
        raise KeyError(name)

"""DANE for SMTP (RFC 7672): the TLSA digests each mail host publishes, and their history.

``_25._tcp.<host> TLSA 3 1 1 <digest>``: usage 3 (DANE-EE, the server's own key, no CA
involved), selector 1 (the SubjectPublicKeyInfo, so a renewal that keeps the key keeps the
record), matching type 1 (SHA-256): the form RFC 7672 section 3.1.1 recommends.

A digest is computed from the bytes compiler/inputs.py read under --root (a certificate,
PEM or DER, or a PEM public or private key); nothing here reads a file. Which digests are
published is decided with mailauth.lock, which records each one with the day it was first
published and the day it was removed from mailauth.yaml: a removed digest stays published
until its TTL has passed since that day (RFC 7671 section 8.1: resolvers may still hold
the old RRset, and a server whose key no longer appears there fails DANE), then leaves.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mailauth.schema import names, strings
from mailauth.schema.errors import Problem
from mailauth.schema.names import longest_suffix
from mailauth.schema.validate import LoadedConfig, dotted

if TYPE_CHECKING:
    from mailauth.compiler.inputs import KeyFile

#: DANE-EE, SubjectPublicKeyInfo, SHA-256 (RFC 7672 section 3.1.1).
TLSA_PARAMS = "3 1 1"
SMTP_PORT = 25
MAX_TTL = 2_147_483_647  # RFC 2181 section 8


def tlsa_owner(host: str) -> str:
    """The TLSA owner name of a mail host's SMTP port (RFC 7672 section 2.2)."""
    return f"_{SMTP_PORT}._tcp.{host}"


def tlsa_value(digest: str) -> str:
    """A TLSA record's data in presentation form."""
    return f"{TLSA_PARAMS} {digest}"


def spki_der(data: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a certificate (PEM or DER) or a PEM public or private
    key. Raises ValueError naming the kind of input only: never a byte of a private key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    public: Any = None  # cryptography's key classes differ by loader; each can encode
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        if b"-----BEGIN CERTIFICATE-----" in data:
            try:
                public = x509.load_pem_x509_certificate(data).public_key()
            except ValueError:
                raise ValueError("not a readable PEM certificate") from None
        elif b"PRIVATE KEY-----" in data:
            try:
                public = serialization.load_pem_private_key(data, password=None).public_key()
            except (ValueError, TypeError):
                raise ValueError(
                    "not a readable unencrypted PEM private key (give the certificate instead)"
                ) from None
        else:
            try:
                public = serialization.load_pem_public_key(data)
            except ValueError:
                raise ValueError("not a readable PEM public key") from None
    else:
        try:
            public = x509.load_der_x509_certificate(data).public_key()
        except ValueError:
            raise ValueError("neither a PEM certificate or key nor a DER certificate") from None
    der: bytes = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def spki_sha256(data: bytes) -> str:
    """The TLSA 3 1 1 association data: SHA-256 of the SPKI, lower-case hex."""
    return hashlib.sha256(spki_der(data)).hexdigest()


# ----------------------------------------------------------------------------- the lock


@dataclass(frozen=True)
class TlsaEntry:
    """One published TLSA digest in mailauth.lock.

    ``published``: the day it was first published; ``removed``: the day mailauth.yaml
    stopped naming it (None while it does); ``ttl``: the record's TTL in seconds.
    """

    host: str
    digest: str
    file: str
    published: str
    removed: str | None
    ttl: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.host, self.digest)

    def leaves(self) -> date | None:
        """The first day it is no longer published: its TTL after the day of removal.
        The removal's time of day is not kept, so that day counts whole."""
        if self.removed is None:
            return None
        days = 1 + math.ceil(self.ttl / 86400)
        return date.fromisoformat(self.removed) + timedelta(days=days)


_FIELDS = ("host", "digest", "file", "published", "removed", "ttl")


def parse_tlsa(doc: object) -> tuple[TlsaEntry, ...]:
    """The ``tlsa`` list of a parsed lock file (absent: none). Raises ValueError."""
    if not isinstance(doc, dict):
        return ()
    items = doc.get("tlsa", [])
    if not isinstance(items, list):
        raise ValueError("tlsa: expected a list")
    out: list[TlsaEntry] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != set(_FIELDS):
            raise ValueError(f"tlsa[{index}]: expected exactly the fields {', '.join(_FIELDS)}")
        removed = item["removed"]
        ttl = item["ttl"]
        digest = item["digest"]
        if (
            not all(isinstance(item[k], str) for k in ("host", "digest", "file", "published"))
            or not (removed is None or isinstance(removed, str))
            or not isinstance(ttl, int)
            or isinstance(ttl, bool)
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValueError(f"tlsa[{index}]: a field has the wrong type")
        try:
            date.fromisoformat(item["published"])
            if removed is not None:
                date.fromisoformat(removed)
        except ValueError:
            raise ValueError(f"tlsa[{index}]: a date is not YYYY-MM-DD") from None
        # The lock is input like mailauth.yaml: the host becomes a zone's owner name, the
        # file a path under the root, so each passes the same check as there.
        try:
            names.domain_name(item["host"])
            strings.host_path(item["file"])
        except ValueError as exc:
            raise ValueError(f"tlsa[{index}]: {exc}") from None
        if not 0 <= ttl <= MAX_TTL:
            raise ValueError(f"tlsa[{index}]: ttl must be 0-{MAX_TTL} seconds")
        out.append(TlsaEntry(item["host"], digest, item["file"], item["published"], removed, ttl))
    return tuple(out)


def parse_tlsa_bytes(data: bytes | None) -> tuple[TlsaEntry, ...]:
    """The TLSA entries of mailauth.lock's bytes (None: no lock). Raises ValueError."""
    if data is None:
        return ()
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:
        return ()  # the DKIM part of the reader names what is wrong with the file
    return parse_tlsa(doc)


def render_tlsa(entries: Sequence[TlsaEntry]) -> str:
    """The ``tlsa`` list as lockfile.render_lock lays out its lists: sorted, two-space JSON."""
    quote = json.encoder.encode_basestring_ascii
    items = []
    for entry in sorted(entries, key=lambda e: (e.host, e.published, e.digest)):
        pairs: list[tuple[str, str]] = [
            ("host", quote(entry.host)),
            ("digest", quote(entry.digest)),
            ("file", quote(entry.file)),
            ("published", quote(entry.published)),
            ("removed", "null" if entry.removed is None else quote(entry.removed)),
            ("ttl", str(entry.ttl)),
        ]
        lines = [f'      "{name}": {value}' for name, value in pairs]
        items.append("    {\n" + ",\n".join(lines) + "\n    }")
    return "[\n" + ",\n".join(items) + "\n  ]"


# ----------------------------------------------------------------------------- the phase


@dataclass
class DanePhase:
    """What is published: each host's digests (current first), and the lock's new list."""

    published: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lock: tuple[TlsaEntry, ...] = ()
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def certificate_paths(loaded: LoadedConfig) -> list[str]:
    """Every file a ``dane:`` names, for compiler/inputs.py to read."""
    paths: list[str] = []
    for host in loaded.config.mail_hosts:
        if host.dane is not None:
            paths += [p for p in (host.dane.certificate, host.dane.next) if p is not None]
    return list(dict.fromkeys(paths))


def _host_ttl(loaded: LoadedConfig, host: str) -> int:
    """The TTL the host's TLSA records get: its zone's, else the default (as build.py)."""
    config = loaded.config
    zones = {z.name: z for z in config.zones}
    zone = longest_suffix(host, zones)
    spec = zones.get(zone) if zone is not None else None
    return spec.ttl if spec is not None and spec.ttl is not None else int(config.defaults.ttl)


def resolve_tlsa(
    loaded: LoadedConfig,
    files: Mapping[str, KeyFile],
    lock: Sequence[TlsaEntry],
    today: date,
    *,
    lenient: bool = False,
) -> DanePhase:
    """The digests to publish today, and mailauth.lock's TLSA list after this run.

    A file absent under --root (a CI runner without the host's certificates) is replaced
    by the lock's entry for it, when there is one: as mailauth.lock stands in for DKIM keys.
    ``lenient`` (validate): with no such entry either, the record is left out with a note,
    since a file missing on this machine is not the config's fault.
    """
    from mailauth.compiler.plan import PlanError

    phase = DanePhase()
    source = loaded.source
    wanted: dict[tuple[str, str], TlsaEntry] = {}
    old = {e.key: e for e in lock}
    for hi, host in enumerate(loaded.config.mail_hosts):
        if host.dane is None:
            continue
        ttl = _host_ttl(loaded, host.name)
        for name in ("certificate", "next"):
            path = getattr(host.dane, name)
            if path is None:
                continue
            at = ("mail_hosts", hi, "dane", name)
            try:
                data = files[path].content()
            except PlanError as exc:
                phase.problems.append(Problem(source.where(at), dotted(at), str(exc)))
                continue
            if data is None:
                known = [e for e in lock if e.host == host.name and e.file == path]
                if not known and lenient:
                    phase.notes.append(
                        f"{tlsa_owner(host.name)}: {path} is not under the root; its TLSA "
                        "record is left out"
                    )
                    continue
                if not known:
                    phase.problems.append(
                        Problem(
                            source.where(at),
                            dotted(at),
                            f"{path} does not exist under the root, and mailauth.lock has no "
                            f"TLSA digest from it for {host.name}",
                        )
                    )
                    continue
                digest = known[-1].digest
                phase.notes.append(
                    f"{tlsa_owner(host.name)}: {path} is not under the root; the TLSA digest "
                    "recorded for it in mailauth.lock is published"
                )
            else:
                try:
                    digest = spki_sha256(data)
                except ValueError as exc:
                    phase.problems.append(Problem(source.where(at), dotted(at), f"{path}: {exc}"))
                    continue
            before = old.get((host.name, digest))
            published = before.published if before is not None else today.isoformat()
            wanted.setdefault(
                (host.name, digest),
                TlsaEntry(host.name, digest, path, published, None, ttl),
            )
    kept: list[TlsaEntry] = []
    for entry in lock:
        if entry.key in wanted:
            continue
        if entry.removed is None:
            entry = replace(entry, removed=today.isoformat())
        leaves = entry.leaves()
        assert leaves is not None
        if today >= leaves:
            continue
        phase.notes.append(
            f"{tlsa_owner(entry.host)}: TLSA {entry.digest[:16]}... is no longer in "
            f"mailauth.yaml; it stays published until {leaves.isoformat()} (its TTL, "
            f"{entry.ttl}s, after its removal on {entry.removed})"
        )
        kept.append(entry)
    by_host: dict[str, list[str]] = {}
    for entry in [*wanted.values(), *kept]:
        by_host.setdefault(entry.host, []).append(entry.digest)
    phase.published = {host: tuple(d) for host, d in by_host.items()}
    phase.lock = (*wanted.values(), *kept)
    return phase

"""What the import readers found, in mailauth.yaml's own shapes: the one interface between
the readers (DNS side, mail side) and the writer, so each can be built and tested alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: A fragment of mailauth.yaml: plain dicts, lists, str, int and bool, as ``yaml.safe_dump``
#: would take them. Keys and shapes are the schema's (schema/models.py).
Yaml = dict[str, Any]


@dataclass(frozen=True)
class Note:
    """Something seen and not imported as it was, with where and why: never dropped silently.

    ``kind``: ``not-imported`` (left out: the user must carry it over by hand), ``raw`` (kept
    verbatim in a ``raw:`` field because it does not parse into fields), ``changed`` (imported
    in a form that differs in text but not in meaning, e.g. a normalised SPF), ``mismatch`` (a
    key whose public half differs from DNS: refused).
    """

    where: str  # FILE:LINE, or FILE, or a DNS name
    kind: Literal["not-imported", "raw", "changed", "mismatch"]
    what: str  # the thing, e.g. "record foo.example.org. 300 IN NAPTR ..."
    why: str  # one sentence


@dataclass(frozen=True)
class AdoptedKey:
    """A private key a signer already uses: adopted in place through ``key_file:``."""

    domain: str
    selector: str
    key_file: str  # absolute host path, as the signer's table names it
    algorithm: Literal["rsa", "ed25519"]
    where: str  # FILE:LINE of the table line that names it
    public_key: str | None = None  # base64 of the public half, from the key file (None: unread)
    sign: bool = True  # False: in the KeyTable but no SigningTable line uses it


@dataclass
class Found:
    """One reader's findings; ``merge`` puts the DNS side and the mail side together."""

    #: Entries of ``zones:`` (name, mode, ttl, soa, ns, records, serial_file...).
    zones: list[Yaml] = field(default_factory=list)
    #: Entries of ``domains:`` by domain name (spf, dmarc, mx, dkim...).
    domains: dict[str, Yaml] = field(default_factory=dict)
    #: Entries of ``mail_hosts:``.
    mail_hosts: list[Yaml] = field(default_factory=list)
    #: ``targets:`` by target name (bind, opendkim, dkimpy_milter, opendmarc, postfix...).
    targets: dict[str, Yaml] = field(default_factory=dict)
    #: Top-level ``keys:`` (the key store), if the host's layout says where keys live.
    keys: Yaml = field(default_factory=dict)
    #: Private keys the signers use.
    adopted: list[AdoptedKey] = field(default_factory=list)
    #: The DKIM public keys DNS publishes: (domain, selector) -> base64 ``p=`` ("" revoked).
    dns_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Comments for the written file: a dotted path ("domains.example.org.spf") -> text.
    comments: dict[str, str] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    def merge(self, other: Found) -> Found:
        """Both sides' findings; a domain or target found by both gets the union of keys
        (the later side wins a key both set)."""
        domains = {name: dict(entry) for name, entry in self.domains.items()}
        for name, entry in other.domains.items():
            domains[name] = {**domains.get(name, {}), **entry}
        targets = {name: dict(entry) for name, entry in self.targets.items()}
        for name, entry in other.targets.items():
            targets[name] = {**targets.get(name, {}), **entry}
        return Found(
            zones=[*self.zones, *other.zones],
            domains=domains,
            mail_hosts=[*self.mail_hosts, *other.mail_hosts],
            targets=targets,
            keys={**self.keys, **other.keys},
            adopted=[*self.adopted, *other.adopted],
            dns_keys={**self.dns_keys, **other.dns_keys},
            comments={**self.comments, **other.comments},
            notes=[*self.notes, *other.notes],
        )

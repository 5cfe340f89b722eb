"""MTA-STS (RFC 8461): a domain's policy file, its id, and its DNS records.

The policy file is the source of truth: the id published in ``_mta-sts.<domain>`` is a
hash of its exact bytes, so the id changes exactly when the file does. Receivers fetch
the policy again only when the id changes (RFC 8461 section 3.3): a hand-kept id that
stays the same across a change would leave them on the old policy until max_age. That
is why mailauth.yaml has no ``id`` field, and why there is no lint rule for "policy
changed, id unchanged": the derivation makes it impossible (tests/test_mta_sts.py
checks the derivation, with hypothesis), and ``mailauth verify`` compares the published
id with the one the policy gives.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from mailauth.compiler.model import RecordPurpose
from mailauth.schema.errors import Problem
from mailauth.schema.models import Config, Domain
from mailauth.schema.mta_sts import MtaSts
from mailauth.schema.validate import LoadedConfig, dotted

if TYPE_CHECKING:
    from mailauth.backends.mta_sts import MtaStsTarget

Mode = Literal["testing", "enforce", "none"]
#: The record purpose of every MTA-STS record (bind.py's SECTIONS gives its section).
PURPOSE: RecordPurpose = "mta-sts"
#: RFC 8461 section 3.1: id is 1 to 32 letters and digits.
ID_LENGTH = 32
CRLF = "\r\n"


@dataclass(frozen=True)
class MtaStsPolicy:
    """A domain's resolved policy: what the file says, in the order it says it."""

    mode: Mode
    max_age: int
    mx: tuple[str, ...]

    def text(self) -> bytes:
        """The policy file: ``version`` first (RFC 8461 section 3.2), CRLF line ends."""
        lines = ["version: STSv1", f"mode: {self.mode}"]
        lines += [f"mx: {pattern}" for pattern in self.mx]
        lines.append(f"max_age: {self.max_age}")
        return (CRLF.join(lines) + CRLF).encode("ascii")

    @property
    def id(self) -> str:
        return policy_id(self.text())

    def txt(self) -> str:
        """The ``_mta-sts`` TXT record's text."""
        return f"v=STSv1; id={self.id}"


def policy_id(text: bytes) -> str:
    """The id of a policy file: its SHA-256 in base32 (letters and digits only), cut to
    the 32 characters RFC 8461 allows (160 bits: no two policies share one in practice)."""
    digest = hashlib.sha256(text).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:ID_LENGTH]


def parse_policy(text: bytes) -> dict[str, list[str]]:
    """A policy file as ``key -> values`` (mx repeats); lines that are not ``key: value``
    are skipped, as receivers skip them. For lint's look at the applied file."""
    fields: dict[str, list[str]] = {}
    for line in text.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def matches(pattern: str, host: str) -> bool:
    """RFC 8461 section 4.1: a host matches a name exactly, or ``*.rest`` when the host is
    one label followed by ``rest`` (the wildcard is one label only)."""
    host = host.rstrip(".").lower()
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:]
    return host == pattern


def effective(defaults: MtaSts | None, own: MtaSts | Literal[False] | None) -> MtaSts | None:
    """The domain's MTA-STS settings: its own fields over the defaults' (``false``: none)."""
    if own is False:
        return None
    if own is None:
        return defaults
    if defaults is None:
        return own
    update = {name: getattr(own, name) for name in own.model_fields_set}
    if "host" in update:  # a CNAME or addresses: the domain's choice replaces the defaults'
        update.setdefault("ipv4", [])
        update.setdefault("ipv6", [])
    if "ipv4" in update or "ipv6" in update:
        update.setdefault("host", None)
    return defaults.model_copy(update=update)


def own_path(index: int) -> tuple[str | int, ...]:
    """The place of domain ``index``'s own ``mta_sts:`` in mailauth.yaml."""
    return ("domains", index, "mta_sts")


def settings_path(domain: Domain, index: int) -> tuple[str | int, ...]:
    """Where the domain's MTA-STS settings are written: its own, else the defaults'."""
    own = domain.mta_sts
    return ("domains", index, "mta_sts") if own is not None else ("defaults", "mta_sts")


def mx_hosts(config: Config, domain: Domain) -> list[str]:
    """The domain's MX hosts, as build publishes them (its ``mx``, else the mail hosts)."""
    if domain.mx is not None:
        return [entry.host for entry in domain.mx]
    return [host.name for host in config.mail_hosts]


class RecordSink(Protocol):
    def add(
        self, owner: str, rtype: str, value: str, ttl: int | None, purpose: RecordPurpose
    ) -> None: ...


def add_mta_sts(
    loaded: LoadedConfig, domain: Domain, index: int, zone: RecordSink, problems: list[Problem]
) -> MtaStsPolicy | None:
    """The domain's policy, with its records added to ``zone``: ``_mta-sts`` TXT, and the
    ``mta-sts`` host (a CNAME to ``host``, else A/AAAA of ``ipv4``/``ipv6``, else of the
    first mail host). None when the domain has no MTA-STS."""
    config = loaded.config
    settings = effective(config.defaults.mta_sts, domain.mta_sts)
    if settings is None:
        return None
    path = settings_path(domain, index)
    mx = tuple(settings.mx) if settings.mx is not None else tuple(mx_hosts(config, domain))
    if not mx:
        problems.append(
            Problem(
                loaded.source.where(path),
                dotted(path),
                f"{domain.name}: the MTA-STS policy needs mx patterns: the domain has no MX "
                "hosts (no `mx` and no `mail_hosts`); set `mta_sts.mx`",
            )
        )
        return None
    policy = MtaStsPolicy(settings.mode, settings.max_age, tuple(dict.fromkeys(mx)))
    ttl = domain.ttl
    zone.add(f"_mta-sts.{domain.name}", "TXT", policy.txt(), ttl, PURPOSE)
    web = f"mta-sts.{domain.name}"
    if settings.host is not None:
        zone.add(web, "CNAME", f"{settings.host}.", ttl, PURPOSE)
        return policy
    ipv4, ipv6 = list(settings.ipv4), list(settings.ipv6)
    if not ipv4 and not ipv6 and config.mail_hosts:
        ipv4, ipv6 = list(config.mail_hosts[0].ipv4), list(config.mail_hosts[0].ipv6)
    if not ipv4 and not ipv6:
        problems.append(
            Problem(
                loaded.source.where(path),
                dotted(path),
                f"{web}: the policy's web server has no address: set `host` (a CNAME) or "
                "`ipv4`/`ipv6`, or give the first mail host its addresses",
            )
        )
        return policy
    for addr in ipv4:
        zone.add(web, "A", addr, ttl, PURPOSE)
    for addr in ipv6:
        zone.add(web, "AAAA", addr, ttl, PURPOSE)
    return policy


def field_path(config: Config, domain: Domain, index: int, name: str) -> tuple[str | int, ...]:
    """Where the domain's MTA-STS field ``name`` was written (its own, else the defaults'),
    for positioned lint findings; the settings' own place when neither writes it."""
    own = domain.mta_sts
    if isinstance(own, MtaSts) and name in own.model_fields_set:
        return ("domains", index, "mta_sts", name)
    defaults = config.defaults.mta_sts
    if defaults is not None and name in defaults.model_fields_set:
        return ("defaults", "mta_sts", name)
    return settings_path(domain, index)


def policy_target(config: Config) -> MtaStsTarget | None:
    """The settings of the target that writes the policy files, if one is configured
    (found by its backend, so that no code outside backends/ names a target)."""
    from mailauth.backends.mta_sts import MtaStsBackend, MtaStsTarget

    for _, backend, settings in config.targets.configured():
        if isinstance(backend, MtaStsBackend) and isinstance(settings, MtaStsTarget):
            return settings
    return None


#: The policies as applied: domain -> the policy file's bytes, None when the file is
#: known to be absent. A domain is missing when nothing can be said (no ``mta_sts``
#: target, or a file that could not be read).
Applied = Mapping[str, bytes | None]


def read_applied(loaded: LoadedConfig, root: Path) -> dict[str, bytes | None]:
    """Each domain's policy file as it is under ``root`` now: what the last apply wrote,
    and what receivers have fetched and cached. Lint compares the new policy with it."""
    from mailauth.backends.mta_sts import policy_file
    from mailauth.compiler.plan import PlanError, host_path, read_under

    config = loaded.config
    target = policy_target(config)
    if target is None:
        return {}
    found: dict[str, bytes | None] = {}
    for domain in config.domains:
        path = policy_file(target, domain.name)
        try:
            read = read_under(root, host_path(root, path), label=path)
        except PlanError:
            continue  # unreadable: the rules that need it say nothing
        found[domain.name] = read[0] if read is not None else None
    return found

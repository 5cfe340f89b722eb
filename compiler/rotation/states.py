"""Where each key of a domain is in its rotation, read from the config and the lock.

A lock written before rotation existed has no states: a selector with ``sign: true`` is
active, one with ``sign: false`` published, exactly as the tables say today. Once a
rotation command has touched a domain, every key of it carries its state in the lock,
and the lock, not ``sign:``, decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from mailauth.compiler.lockfile import REMOVED, Lock, LockEntry
from mailauth.schema.models import Config, DkimSelector, Domain, Rotation, duration_seconds
from mailauth.schema.names import longest_suffix

#: What a lock entry holds for a key that apply has not made yet (compiler/keys.py).
PENDING = "(new-key-generated-by-apply)"

_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def stamp(moment: datetime) -> str:
    """A lock timestamp: UTC, to the second."""
    return moment.astimezone(UTC).strftime(_STAMP)


def parse_stamp(text: str) -> datetime:
    """A lock timestamp, or a bare date (``created``) as its midnight UTC."""
    try:
        return datetime.strptime(text, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)


@dataclass(frozen=True)
class KeyView:
    """One key of a domain as rotation sees it."""

    domain: str
    selector: str
    algorithm: str
    bits: int
    state: str
    created: str | None
    since: str | None
    until: str | None
    #: The lock holds no key yet: apply on the mail host makes it.
    pending: bool
    #: mailauth.yaml lists this selector (else it was made by `keys rotate`).
    in_config: bool
    #: The state is written in the lock (else it follows ``sign:``).
    explicit: bool


def config_selectors(config: Config, domain: Domain) -> list[DkimSelector]:
    dkim = domain.dkim if domain.dkim is not None else config.defaults.dkim
    return list(dkim.selectors)


def domain_named(config: Config, name: str) -> Domain | None:
    return next((d for d in config.domains if d.name == name), None)


def policy(config: Config, domain: Domain) -> Rotation:
    """The domain's rotation policy: what it sets, the rest from the defaults."""
    base = config.defaults.rotation
    if domain.rotation is None:
        return base
    return base.model_copy(
        update={n: getattr(domain.rotation, n) for n in domain.rotation.model_fields_set}
    )


def record_ttl(config: Config, domain: Domain) -> int:
    """The TTL the domain's DKIM records get (as compiler/build.py gives it)."""
    if domain.ttl is not None:
        return domain.ttl
    zones = {z.name: z for z in config.zones}
    zone = zones.get(longest_suffix(domain.name, zones) or "")
    if zone is not None and zone.ttl is not None:
        return zone.ttl
    return config.defaults.ttl


def seconds(value: str) -> timedelta:
    return timedelta(seconds=duration_seconds(value))


def keys_of(config: Config, lock: Lock, domain: Domain) -> list[KeyView]:
    """Every key of ``domain`` that is not removed: the config's selectors first, in their
    order, then those made by rotation, oldest first."""
    views: list[KeyView] = []
    listed = config_selectors(config, domain)
    names = {sel.name for sel in listed}
    for sel in listed:
        entry = lock.get((domain.name, sel.name))
        if entry is not None and entry.state == REMOVED:
            continue
        derived = "active" if sel.sign else "published"
        if entry is None:
            views.append(
                KeyView(domain.name, sel.name, sel.algorithm, sel.key_bits, derived,
                        None, None, None, True, True, False)
            )  # fmt: skip
            continue
        views.append(_view(entry, entry.state or derived, in_config=True))
    extra = [
        e
        for (d, s), e in lock.items()
        if d == domain.name and s not in names and e.state not in (None, REMOVED)
    ]
    for entry in sorted(extra, key=lambda e: (e.since or e.created, e.selector)):
        views.append(_view(entry, entry.state or "published", in_config=False))
    return views


def _date(text: str) -> str | None:
    """``created`` when it is a date (mailauth writes one; a hand edit may not)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return None
    return text


def _view(entry: LockEntry, state: str, *, in_config: bool) -> KeyView:
    return KeyView(
        entry.domain, entry.selector, entry.algorithm, entry.bits, state, _date(entry.created),
        entry.since, entry.until, entry.fingerprint == PENDING, in_config,
        entry.state is not None,
    )  # fmt: skip


def removed_of(lock: Lock, domain: str) -> list[LockEntry]:
    return sorted(
        (e for (d, _), e in lock.items() if d == domain and e.state == REMOVED),
        key=lambda e: e.selector,
    )

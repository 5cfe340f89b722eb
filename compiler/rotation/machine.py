"""The transitions of a DKIM key, as pure functions of the config, the lock and the time.

Each returns a :class:`Changed` (the new lock and what it did) or a :class:`Refusal` (why
not, in words an admin can act on). None reads a file or asks DNS: what promote needs to
know about live DNS comes in as ``live`` (compiler/rotation/live.py asks).

    (rotate) -> published --promote--> active --promote of the next--> retiring
    retiring --retire, after overlap--> revoked (p= empty) --retire, after revoke_for--> removed
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailauth.compiler.lockfile import REMOVED, Lock, LockEntry
from mailauth.compiler.rotation.states import (
    PENDING,
    KeyView,
    config_selectors,
    domain_named,
    keys_of,
    parse_stamp,
    policy,
    record_ttl,
    seconds,
    stamp,
)
from mailauth.schema import names
from mailauth.schema.models import Config, Domain


@dataclass(frozen=True)
class Changed:
    lock: Lock
    done: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Refusal:
    message: str


Result = Changed | Refusal


def _domain(config: Config, name: str) -> Domain | Refusal:
    domain = domain_named(config, name)
    if domain is None:
        return Refusal(f"{name}: no such domain in mailauth.yaml")
    return domain


def _explicit(config: Config, lock: Lock, domain: Domain, now: datetime) -> Lock:
    """The lock with every key of ``domain`` carrying its state, so that from now on the
    lock decides and not ``sign:`` (a key whose state followed ``sign:`` starts now)."""
    out = dict(lock)
    for view in keys_of(config, lock, domain):
        entry = lock.get((domain.name, view.selector))
        if entry is None or entry.state is not None:
            continue
        out[entry.key] = dataclasses.replace(entry, state=view.state, since=stamp(now))
    return out


def _prune(config: Config, lock: Lock, domain: Domain) -> Lock:
    """Drop removed-markers of selectors the config no longer lists (nothing to stop)."""
    listed = {sel.name for sel in config_selectors(config, domain)}
    return {
        k: e
        for k, e in lock.items()
        if not (k[0] == domain.name and e.state == REMOVED and k[1] not in listed)
    }


def next_selector(scheme: str, now: datetime, taken: set[str]) -> str:
    """The scheme's name for ``now``; one already taken gets -2, -3..."""
    base = scheme.format(yyyy=f"{now.year:04d}", mm=f"{now.month:02d}", dd=f"{now.day:02d}")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return names.selector_name(name)


def rotate(
    config: Config, lock: Lock, domain_name: str, algorithms: Sequence[str], now: datetime
) -> Result:
    """Publish a new key beside each active key of ``algorithms`` (all when empty).

    The new selector is published, not signing; apply makes the key on the mail host.
    """
    domain = _domain(config, domain_name)
    if isinstance(domain, Refusal):
        return domain
    views = keys_of(config, lock, domain)
    active = [v for v in views if v.state == "active"]
    wanted = list(algorithms) or list(dict.fromkeys(v.algorithm for v in active))
    if not wanted:
        return Refusal(f"{domain_name}: no active key to rotate")
    out = _explicit(config, _prune(config, lock, domain), domain, now)
    taken = {sel.name for sel in config_selectors(config, domain)}
    taken |= {s for (d, s) in out if d == domain_name}
    done: list[str] = []
    for algorithm in wanted:
        current = [v for v in active if v.algorithm == algorithm]
        if not current:
            return Refusal(f"{domain_name}: no active {algorithm} key to rotate")
        if current[0].pending:
            return Refusal(
                f"{domain_name}: the active {algorithm} key {current[0].selector} does not "
                "exist yet: run `mailauth apply` on the mail host first"
            )
        waiting = [v for v in views if v.state == "published" and v.algorithm == algorithm]
        if waiting:
            return Refusal(
                f"{domain_name}: the {algorithm} key {waiting[0].selector} is already "
                "published and waiting: promote it (`mailauth keys promote`) before "
                "rotating again"
            )
        name = next_selector(policy(config, domain).selector, now, taken)
        taken.add(name)
        out[(domain_name, name)] = LockEntry(
            domain_name, name, algorithm, current[0].bits, now.date().isoformat(),
            PENDING, PENDING, state="published", since=stamp(now),
        )  # fmt: skip
        done.append(
            f"{name}._domainkey.{domain_name}: new {algorithm} key published (replaces "
            f"{current[0].selector}); apply on the mail host makes it"
        )
    return Changed(out, done)


@dataclass(frozen=True)
class Live:
    """What DNS said about a published key: None when every authoritative server serves
    exactly the locked key, else why not."""

    problem: str | None


def promote(
    config: Config,
    lock: Lock,
    domain_name: str,
    algorithms: Sequence[str],
    now: datetime,
    *,
    ttl: Mapping[str, int],
    live: Mapping[str, Live],
    force: bool = False,
) -> Result:
    """Sign with the published key(s); the keys they replace start retiring.

    Refused while the key is not made yet, while its published state is younger than
    ``ttl[selector]`` seconds (what a resolver may cache: live.record_ttl), or while
    ``live[selector]`` has a problem; ``force`` overrides the last two, with a warning.
    """
    domain = _domain(config, domain_name)
    if isinstance(domain, Refusal):
        return domain
    views = keys_of(config, lock, domain)
    waiting = [
        v for v in views if v.state == "published" and (not algorithms or v.algorithm in algorithms)
    ]
    if not waiting:
        return Refusal(f"{domain_name}: no published key to promote (run `mailauth keys rotate`)")
    warnings: list[str] = []
    for view in waiting:
        name = f"{view.selector}._domainkey.{domain_name}"
        if view.pending:
            return Refusal(
                f"{name}: the key does not exist yet: run `mailauth apply` on the mail host, "
                "then publish the record, before promoting it"
            )
        problems = []
        since = parse_stamp(view.since or view.created or stamp(now))
        wait = timedelta(seconds=ttl.get(view.selector, 0))
        if now < since + wait:
            problems.append(
                f"{name} is published since {stamp(since)}, and resolvers may hold an "
                f"answer from before for {int(wait.total_seconds())}s (the record's TTL, or "
                f"the zone's negative-caching time if longer); promote after "
                f"{stamp(since + wait)}"
            )
        check = live.get(view.selector, Live("DNS was not asked"))
        if check.problem is not None:
            problems.append(f"{name}: not live: {check.problem}")
        if problems and not force:
            return Refusal("; ".join(problems))
        warnings += [f"warning: --force: {p}" for p in problems]
    out = _explicit(config, lock, domain, now)
    overlap = seconds(policy(config, domain).overlap)
    done: list[str] = []
    for view in waiting:
        for old in views:
            if old.state == "active" and old.algorithm == view.algorithm:
                out[(domain_name, old.selector)] = dataclasses.replace(
                    out[(domain_name, old.selector)],
                    state="retiring", since=stamp(now), until=stamp(now + overlap),
                )  # fmt: skip
                done.append(
                    f"{old.selector}._domainkey.{domain_name}: retiring (stays published "
                    f"until {stamp(now + overlap)})"
                )
        out[(domain_name, view.selector)] = dataclasses.replace(
            out[(domain_name, view.selector)], state="active", since=stamp(now), until=None
        )
        done.append(f"{view.selector}._domainkey.{domain_name}: active (signs)")
    return Changed(out, done, warnings)


def retire(
    config: Config, lock: Lock, domain_name: str, now: datetime, *, purge: bool = False
) -> Result:
    """Move each retiring key whose overlap is over to revoked (``p=`` empty), and each
    revoked key whose period is over to removed (out of DNS and the lock; apply archives
    its private key, or deletes it with ``purge``)."""
    domain = _domain(config, domain_name)
    if isinstance(domain, Refusal):
        return domain
    views = [v for v in keys_of(config, lock, domain) if v.state in ("retiring", "revoked")]
    if not views:
        return Refusal(f"{domain_name}: no retiring or revoked key")
    revoke_for = seconds(policy(config, domain).revoke_for)
    out = dict(lock)
    done: list[str] = []
    early: list[str] = []
    for view in views:
        name = f"{view.selector}._domainkey.{domain_name}"
        until = parse_stamp(view.until) if view.until else now
        if now < until:
            reason = (
                "mail signed with it may still be in transit"
                if view.state == "retiring"
                else "it is published revoked"
            )
            early.append(f"{name}: {reason} until {stamp(until)}")
            continue
        entry = out[(domain_name, view.selector)]
        if view.state == "retiring":
            out[entry.key] = dataclasses.replace(
                entry, state="revoked", since=stamp(now), until=stamp(now + revoke_for)
            )
            done.append(f"{name}: revoked (p= empty until {stamp(now + revoke_for)})")
        else:
            out[entry.key] = dataclasses.replace(
                entry, state=REMOVED, since=stamp(now), until=None, public_key="", purge=purge
            )
            what = "deleted" if purge else "archived"
            done.append(f"{name}: removed from DNS and the lock; apply: private key {what}")
    if not done:
        return Refusal("too early: " + "; ".join(early))
    return Changed(out, done, [f"not yet: {e}" for e in early])


def due(config: Config, lock: Lock, domain: Domain, now: datetime) -> list[tuple[str, str]]:
    """What is due for ``domain`` and when: (action, timestamp) pairs, soonest first."""
    rule = policy(config, domain)
    out: list[tuple[str, str]] = []
    views = keys_of(config, lock, domain)
    published = {v.algorithm for v in views if v.state == "published"}
    for view in views:
        if view.state == "active" and view.algorithm not in published:
            born = parse_stamp(view.created or stamp(now))
            out.append(("rotate", stamp(born + seconds(rule.every))))
        elif view.state == "published" and view.pending:
            out.append(("apply", view.since or stamp(now)))  # the mail host makes the key
        elif view.state == "published":
            since = parse_stamp(view.since or view.created or stamp(now))
            out.append(("promote", stamp(since + timedelta(seconds=record_ttl(config, domain)))))
        elif view.state in ("retiring", "revoked") and view.until:
            out.append(("retire", view.until))
    return sorted(out, key=lambda item: item[1])


def is_due(config: Config, lock: Lock, domain: Domain, now: datetime) -> bool:
    """Does ``domain`` have an active key older than ``rotation.every`` (and none waiting)?"""
    return any(
        action == "rotate" and parse_stamp(at) <= now
        for action, at in due(config, lock, domain, now)
    )


def age_days(view: KeyView, now: datetime) -> int | None:
    return None if view.created is None else (now - parse_stamp(view.created)).days

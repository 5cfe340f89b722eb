"""What ``mailauth keys rotate|promote|retire|status`` do: read mailauth.yaml and the
lock, run a transition of compiler/rotation/machine.py per domain, write the lock.

They write mailauth.lock and nothing else (docs/key-rotation.md says why not
mailauth.yaml): plan and apply then show and make the change like any other, so each
step of a rotation is one reviewable pull request. A refusal in any domain writes
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mailauth.compiler.dane import parse_tlsa_bytes, render_tlsa
from mailauth.compiler.fsio import write_atomic
from mailauth.compiler.lockfile import Lock, read_lock_file, render_lock
from mailauth.compiler.rotation import machine
from mailauth.compiler.rotation.effective import effective_config
from mailauth.compiler.rotation.live import (
    Ask,
    Server,
    ask_server,
    authoritative_servers,
    check_live,
    record_ttl,
    zone_of,
)
from mailauth.compiler.rotation.machine import Changed, Live, Refusal
from mailauth.compiler.rotation.states import keys_of, parse_stamp, policy, removed_of, stamp
from mailauth.schema.errors import MailauthError, Problem
from mailauth.schema.models import Domain
from mailauth.schema.names import parse_nameserver
from mailauth.schema.validate import LoadedConfig, load_config

#: The version of `keys status --format json` (docs/key-rotation.md).
STATUS_FORMAT_VERSION = 1


@dataclass
class Session:
    """mailauth.yaml as written and mailauth.lock as read, for one command."""

    loaded: LoadedConfig
    lock_path: Path
    lock: Lock
    done: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.loaded.path


def open_session(config: Path) -> Session:
    from mailauth.compiler.keys import lock_path

    loaded = load_config(config)
    path = lock_path(loaded)
    lock, data = read_lock_file(path)
    if data is None:
        raise MailauthError(
            f"{path} does not exist: run `mailauth apply` on the mail host first (it makes "
            "the keys and the lock), or restore it from version control"
        )
    return Session(loaded, path, lock)


def _domains(session: Session, wanted: Sequence[str]) -> list[Domain]:
    config = session.loaded.config
    known = {d.name: d for d in config.domains}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise MailauthError(f"no such domain in {session.config_path}: {', '.join(unknown)}")
    return [known[name] for name in dict.fromkeys(wanted)] if wanted else list(config.domains)


def _save(session: Session, lock: Lock) -> None:
    """Write the new lock; checked first to give a config the build accepts."""
    effective_config(session.loaded.config, lock, str(session.lock_path))
    mode = session.lock_path.stat().st_mode & 0o777
    # The lock also records published TLSA digests (compiler/dane.py): carried over as is.
    tlsa = parse_tlsa_bytes(session.lock_path.read_bytes())
    write_atomic(session.lock_path, render_lock(lock, render_tlsa(tlsa) if tlsa else None), mode)
    session.lock = lock


def _run(session: Session, steps: list[tuple[str, machine.Result]]) -> None:
    refusals = [r.message for _, r in steps if isinstance(r, Refusal)]
    if refusals:
        raise MailauthError(
            problems=[Problem(str(session.lock_path), "keys", message) for message in refusals]
        )
    changed = [r for _, r in steps if isinstance(r, Changed)]
    if not changed:
        return
    lock = session.lock
    for name, result in steps:
        assert isinstance(result, Changed)
        # Each result is the lock with one domain changed: take that domain's entries.
        lock = {k: e for k, e in lock.items() if k[0] != name}
        lock.update({k: e for k, e in result.lock.items() if k[0] == name})
        session.done += result.done
        session.warnings += result.warnings
    _save(session, lock)


def rotate(
    session: Session,
    domains: Sequence[str],
    algorithms: Sequence[str],
    now: datetime,
    *,
    due: bool = False,
) -> None:
    """Publish the next key of each chosen domain (``due``: only those due)."""
    config = session.loaded.config
    chosen = _domains(session, domains)
    if due:
        chosen = [d for d in chosen if machine.is_due(config, session.lock, d, now)]
    steps: list[tuple[str, machine.Result]] = [
        (d.name, machine.rotate(config, session.lock, d.name, algorithms, now)) for d in chosen
    ]
    _run(session, steps)


def _has(session: Session, domain: Domain, states: set[str], algorithms: Sequence[str]) -> bool:
    return any(
        v.state in states and (not algorithms or v.algorithm in algorithms)
        for v in keys_of(session.loaded.config, session.lock, domain)
    )


@dataclass(frozen=True)
class LiveOptions:
    """How promote asks DNS: the servers to ask (empty: the zone's own), and how."""

    nameservers: Sequence[str] = ()
    root: Path | None = None
    timeout: float = 3.0
    ask: Ask | None = None  # tests stand in for DNS here


def promote(
    session: Session,
    domains: Sequence[str],
    algorithms: Sequence[str],
    now: datetime,
    options: LiveOptions,
    *,
    force: bool = False,
) -> None:
    """Sign with the published keys once DNS serves them and their TTL has passed."""
    config = session.loaded.config
    chosen = _domains(session, domains)
    if not domains:
        chosen = [d for d in chosen if _has(session, d, {"published"}, algorithms)]
        if not chosen:
            raise MailauthError("no domain has a published key to promote (run `keys rotate`)")
    ttl, live = _ask_dns(session, chosen, algorithms, options, force)
    steps: list[tuple[str, machine.Result]] = [
        (
            d.name,
            machine.promote(
                config,
                session.lock,
                d.name,
                algorithms,
                now,
                ttl=ttl[d.name],
                live=live[d.name],
                force=force,
            ),
        )
        for d in chosen
    ]
    _run(session, steps)


def _ask_dns(
    session: Session,
    chosen: Sequence[Domain],
    algorithms: Sequence[str],
    options: LiveOptions,
    force: bool,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Live]]]:
    """The TTL of each published key's record and what DNS says of it."""
    from mailauth.compiler import driver
    from mailauth.compiler.verify import DnsError, expected_state

    config = session.loaded.config
    ttl: dict[str, dict[str, int]] = {d.name: {} for d in chosen}
    live: dict[str, dict[str, Live]] = {d.name: {} for d in chosen}
    waiting = {
        d.name: [
            v
            for v in keys_of(config, session.lock, d)
            if v.state == "published"
            and not v.pending
            and (not algorithms or v.algorithm in algorithms)
        ]
        for d in chosen
    }
    if not any(waiting.values()):
        return ttl, live
    model, _lock = expected_state(driver.open_job(session.config_path, options.root, None))
    try:
        given: list[Server] = [parse_nameserver(n) for n in options.nameservers]
    except ValueError as exc:
        raise MailauthError(f"--nameserver {exc}") from None
    ask = options.ask or ask_server(options.timeout)
    zones = {z.name: z for z in config.zones}
    for name, views in waiting.items():
        for view in views:
            record = f"{view.selector}._domainkey.{name}"
            ttl[name][view.selector] = record_ttl(model, record)
            entry = session.lock[(name, view.selector)]
            zone = zone_of(model, record)
            try:
                if given:
                    servers = given
                elif zone is None:
                    raise DnsError(f"{record}: no zone in mailauth.yaml holds it")
                else:
                    spec = zones.get(zone.name)
                    ns = list(spec.ns) if spec is not None and spec.mode == "zone" else []
                    servers = authoritative_servers(zone, ns)
                live[name][view.selector] = check_live(record, entry.public_key, servers, ask)
            except DnsError as exc:
                live[name][view.selector] = Live(str(exc))
    return ttl, live


def retire(session: Session, domains: Sequence[str], now: datetime, *, purge: bool = False) -> None:
    """Revoke retiring keys whose overlap is over; remove revoked keys whose time is up."""
    config = session.loaded.config
    chosen = _domains(session, domains)
    if not domains:
        chosen = [d for d in chosen if _has(session, d, {"retiring", "revoked"}, ())]
        if not chosen:
            raise MailauthError("no domain has a retiring or revoked key")
    steps: list[tuple[str, machine.Result]] = [
        (d.name, machine.retire(config, session.lock, d.name, now, purge=purge)) for d in chosen
    ]
    _run(session, steps)


# --- status ---------------------------------------------------------------------------------


def status(session: Session, now: datetime) -> dict[str, Any]:
    """Every domain's keys, states and ages, and what is due when (the JSON document)."""
    config = session.loaded.config
    domains: list[dict[str, Any]] = []
    for domain in config.domains:
        rule = policy(config, domain)
        keys = [
            {
                "selector": v.selector,
                "algorithm": v.algorithm,
                "bits": v.bits,
                "state": v.state,
                "signing": v.state == "active",
                "created": v.created,
                "age_days": machine.age_days(v, now),
                "since": v.since,
                "until": v.until,
                "pending": v.pending,
                "in_config": v.in_config,
            }
            for v in keys_of(config, session.lock, domain)
        ]
        due = [
            {"action": action, "at": at, "now": parse_stamp(at) <= now}
            for action, at in machine.due(config, session.lock, domain, now)
        ]
        removed = [
            {"selector": e.selector, "removed": e.since, "purge": e.purge}
            for e in removed_of(session.lock, domain.name)
        ]
        domains.append(
            {
                "domain": domain.name,
                "policy": {
                    "every": rule.every,
                    "overlap": rule.overlap,
                    "revoke_for": rule.revoke_for,
                    "selector": rule.selector,
                },
                "keys": keys,
                "removed": removed,
                "due": due,
            }
        )
    return {"version": STATUS_FORMAT_VERSION, "now": stamp(now), "domains": domains}


def status_text(doc: dict[str, Any]) -> str:
    """``status`` as a table, then what is due."""
    rows = [("DOMAIN", "SELECTOR", "ALGORITHM", "STATE", "AGE", "SINCE", "UNTIL")]
    notes: list[str] = []
    for domain in doc["domains"]:
        for key in domain["keys"]:
            age = "-" if key["age_days"] is None else f"{key['age_days']}d"
            state = key["state"] + (" (not made yet)" if key["pending"] else "")
            rows.append(
                (
                    domain["domain"], key["selector"], f"{key['algorithm']}-{key['bits']}",
                    state, age, key["since"] or "-", key["until"] or "-",
                )
            )  # fmt: skip
        for item in domain["due"]:
            when = "now" if item["now"] else f"from {item['at']}"
            if item["action"] == "rotate" and item["now"]:
                when = f"now (older than every: {domain['policy']['every']})"
            notes.append(f"{domain['domain']}: {item['action']} {when}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if notes:
        lines += ["", "due:", *(f"  {n}" for n in notes)]
    return "\n".join(lines) + "\n"

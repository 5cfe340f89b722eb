"""MTA-STS rules (RFC 8461): the policy against the MX hosts, and against the policy applied.

"Applied" is the policy file under --root (``Context.mta_sts_applied``, read once by
compiler/inputs.py), not a record in mailauth.lock: that file is what the last apply
wrote and what senders have fetched and cache, so "was there a testing period" and "was
max_age higher" are questions about it. plan runs these rules against the host's real
tree (the CI flow plans with ``--root`` on the host), so the history needs no state of
its own, and it cannot drift from what is served. Without the ``mta_sts`` target there
is no applied file to read, and the history rules say nothing (STS004 says why).

There is no rule for "policy changed, id unchanged": the id is a hash of the policy's
bytes (compiler/mta_sts.py), so it cannot happen; tests/test_mta_sts.py checks that.
"""

from __future__ import annotations

from collections.abc import Callable

from mailauth.compiler.lint.engine import Context
from mailauth.compiler.model import DomainModel
from mailauth.compiler.mta_sts import (
    MtaStsPolicy,
    field_path,
    matches,
    own_path,
    parse_policy,
    policy_target,
)
from mailauth.schema.models import Domain

#: The modes an applied policy may have for ``enforce`` to follow without a warning.
TESTED = ("testing", "enforce")


def _mx_hosts(ctx: Context, domain: DomainModel) -> list[str]:
    """The MX hosts the zone publishes for the domain (mailauth's and hand-written ones)."""
    zone = ctx.model.zone(domain.zone)
    owner = "@" if domain.name == zone.name else domain.name[: -(len(zone.name) + 1)]
    hosts = []
    for record in zone.find(owner, "MX"):
        parts = record.value.split()
        if len(parts) == 2:
            hosts.append(parts[1].rstrip(".").lower())
    return hosts


def check(ctx: Context) -> None:
    config = ctx.config
    models = {d.name: d for d in ctx.model.domains}
    written = policy_target(config) is not None
    for index, domain in enumerate(config.domains):
        built = models.get(domain.name)
        if built is None:
            continue
        if built.mta_sts is None:
            _withdrawn(ctx, domain, index)
            continue
        policy = built.mta_sts
        name = domain.name

        def at(field: str, domain: Domain = domain, index: int = index) -> tuple[str | int, ...]:
            return field_path(config, domain, index, field)

        hosts = _mx_hosts(ctx, built)
        for host in hosts if policy.mode != "none" else ():  # none: senders apply nothing
            if not any(matches(p, host) for p in policy.mx):
                ctx.report(
                    "STS001",
                    at("mx"),
                    f"{name}: MX host {host} matches no pattern of the MTA-STS policy "
                    f"({', '.join(policy.mx)}): senders will not deliver there",
                    domain=name,
                )
        for pattern in policy.mx:
            if hosts and not any(matches(pattern, h) for h in hosts):
                ctx.report(
                    "STS005",
                    at("mx"),
                    f"{name}: MTA-STS mx pattern {pattern} matches none of its MX hosts "
                    f"({', '.join(hosts)})",
                    domain=name,
                )
        if not written:
            ctx.report(
                "STS004",
                at("mode"),
                f"{name}: _mta-sts.{name} announces a policy, but no `targets.mta_sts` writes "
                "its policy file",
                domain=name,
            )
            continue
        if name in ctx.mta_sts_applied:
            _against_applied(ctx, name, policy, ctx.mta_sts_applied[name], at)


def _against_applied(
    ctx: Context,
    name: str,
    policy: MtaStsPolicy,
    applied: bytes | None,
    at: Callable[[str], tuple[str | int, ...]],
) -> None:
    """STS002 and STS003: the new policy against the file the last apply left."""
    old = parse_policy(applied) if applied is not None else {}
    old_mode = old["mode"][0] if old.get("mode") else None
    if policy.mode == "enforce" and old_mode not in TESTED:
        was = f"the applied policy is in mode {old_mode}" if old_mode else "no policy is applied"
        ctx.report(
            "STS002",
            at("mode"),
            f"{name}: MTA-STS goes to enforce, but {was}: no testing period first",
            domain=name,
        )
    try:
        old_age = int((old.get("max_age") or [""])[0])
    except ValueError:
        return
    if policy.max_age < old_age and policy.mode != "none":
        ctx.report(
            "STS003",
            at("max_age"),
            f"{name}: MTA-STS max_age goes down from {old_age} to {policy.max_age} seconds",
            domain=name,
        )


def _withdrawn(ctx: Context, domain: Domain, index: int) -> None:
    """STS006: the domain has no policy now, but the applied one is not `none`."""
    applied = ctx.mta_sts_applied.get(domain.name)
    if applied is None:
        return
    old = parse_policy(applied)
    mode = old["mode"][0] if old.get("mode") else None
    if mode == "none":
        return
    path: tuple[str | int, ...] = ("domains", index)
    if domain.mta_sts is False:
        path = own_path(index)
    ctx.report(
        "STS006",
        path,
        f"{domain.name}: the applied MTA-STS policy (mode {mode}) is removed without a "
        "`mode: none` policy first: senders keep enforcing it until its max_age runs out",
        domain=domain.name,
    )

"""Running the rules: findings with positions, silences, ``--strict``.

:func:`lint` takes a built model (and what the key phase found) and returns a
:class:`Report`. Nothing here prints or exits: the CLI (:mod:`.command`) and the plan gate
(:mod:`.gate`) decide what a finding means for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mailauth.compiler.build import KnownKey
from mailauth.compiler.inputs import ServedCertificate
from mailauth.compiler.lint.inventory import Inventory, build_inventory
from mailauth.compiler.lint.rules import RULES, Severity
from mailauth.compiler.lockfile import Lock
from mailauth.compiler.model import MailModel
from mailauth.compiler.spf.budget import Budget
from mailauth.compiler.spf.dnsview import (
    Answers,
    CacheView,
    ChainView,
    DnsView,
    LiveView,
    ModelView,
)
from mailauth.schema.errors import Problem
from mailauth.schema.loader import PathKey
from mailauth.schema.validate import LoadedConfig, dotted


@dataclass(frozen=True)
class Finding:
    """One rule firing at one place."""

    rule: str
    severity: Severity
    where: str  # file:line:col
    field: str  # dotted path in mailauth.yaml
    message: str
    domain: str | None = None
    fix: str = ""
    detail: tuple[str, ...] = ()  # extra lines (the lookup tree)
    silenced: str | None = None  # the stated reason, when silenced
    line: int | None = None
    column: int | None = None

    @property
    def rfc(self) -> str:
        return RULES[self.rule].rfc

    def headline(self) -> str:
        return f"{self.rule}: {self.message} [{self.rfc}]"

    def text(self) -> str:
        """``file:line:col: field: severity ID: message [RFC]``, fix and detail beneath."""
        lines = [f"{self.where}: {self.field}: {self.severity} {self.headline()}"]
        if self.fix:
            lines.append(f"    fix: {self.fix}")
        lines += [f"    {line}" for line in self.detail]
        return "\n".join(lines)

    def as_problem(self) -> Problem:
        """For plan/apply: the message of a positioned ConfigError line."""
        body = f"{self.headline()}; fix: {self.fix}"
        if self.detail:
            body += "\n" + "\n".join(f"    {line}" for line in self.detail)
        return Problem(self.where, self.field, body)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.where.split(":", 1)[0] if self.line is not None else self.where,
            "line": self.line,
            "column": self.column,
            "where": self.where,
            "field": self.field,
            "domain": self.domain,
            "message": self.message,
            "rfc": self.rfc,
            "fix": self.fix,
            "detail": list(self.detail),
            "silenced": self.silenced,
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    resolved: Answers | None = None  # what --resolve found (the would-be cache)

    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.silenced is None]

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.active() if f.severity == severity)

    def strict(self) -> Report:
        """Warnings become errors (``--strict``)."""
        findings = [
            replace(f, severity="error") if f.severity == "warning" else f for f in self.findings
        ]
        return Report(findings, self.budgets, self.resolved)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.active() if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.active() if f.severity == "warning"]


@dataclass
class Context:
    """What every check sees, and where it reports."""

    loaded: LoadedConfig
    model: MailModel
    keys: Mapping[tuple[str, str], KnownKey]
    lock: Lock
    cache: Answers
    inventory: Inventory
    view: DnsView
    live: LiveView | None = None
    #: The time of a `mailauth lint` run, for the rules about key age (DKIM012); None in
    #: plan and apply, whose result depends on the files alone.
    now: datetime | None = None
    #: Each domain's MTA-STS policy file as applied (compiler/mta_sts.read_applied).
    mta_sts_applied: Mapping[str, bytes | None] = field(default_factory=dict)
    served: Sequence[ServedCertificate] = ()  # the certificates the MTA serves (DANE002)
    findings: list[Finding] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    # The findings reported so far, for dropping repeats without a scan of the list.
    _seen: set[Finding] = field(default_factory=set, repr=False, compare=False)

    @property
    def config(self) -> Any:
        return self.loaded.config

    def report(
        self,
        rule: str,
        path: PathKey,
        message: str,
        *,
        domain: str | None = None,
        fix: str | None = None,
        detail: Sequence[str] = (),
        where: str | None = None,
    ) -> None:
        finding = make_finding(
            self.loaded, rule, path, message, domain=domain, fix=fix, detail=detail, where=where
        )
        if finding not in self._seen:
            self._seen.add(finding)
            self.findings.append(finding)


def make_finding(
    loaded: LoadedConfig,
    rule: str,
    path: PathKey,
    message: str,
    *,
    domain: str | None = None,
    fix: str | None = None,
    detail: Sequence[str] = (),
    where: str | None = None,
) -> Finding:
    """A finding of ``rule`` at ``path`` of mailauth.yaml (or at ``where``, another file)."""
    spec = RULES[rule]
    source = loaded.source
    position = source.locate(path) if path and where is None else None
    field = dotted(path) if path else "(document)"
    if where is None:
        where = source.where(path) if path else source.file
    elif not path:
        field = "(file)"
    return Finding(
        rule=rule,
        severity=spec.severity,
        where=where,
        field=field,
        message=message,
        domain=domain,
        fix=fix or spec.fix,
        detail=tuple(detail),
        line=position.line if position else None,
        column=position.column if position else None,
    )


def lint(
    loaded: LoadedConfig,
    model: MailModel,
    keys: Mapping[tuple[str, str], KnownKey],
    *,
    lock: Lock,
    cache: Answers,
    live: LiveView | None = None,
    now: datetime | None = None,
    mta_sts_applied: Mapping[str, bytes | None] | None = None,
    served: Sequence[ServedCertificate] = (),
) -> Report:
    """Every rule on ``model`` (built from ``loaded``, with the ``lock`` and SPF ``cache``
    read by compiler/inputs.py); ``live`` adds real DNS (--resolve); ``served``: the
    certificates the MTA serves, as inputs.py read them."""
    from mailauth.compiler.lint import (
        check_bimi,
        check_dane,
        check_dkim,
        check_dmarc,
        check_limits,
        check_mta_sts,
        check_spf,
        check_tlsrpt,
        check_xref,
    )

    inventory = build_inventory(loaded.config, model)
    sources: list[DnsView] = [ModelView(model)]
    sources.append(live if live is not None else CacheView(cache))
    ctx = Context(
        loaded=loaded,
        model=model,
        keys=keys,
        lock=lock,
        cache=cache,
        inventory=inventory,
        view=ChainView(sources),
        live=live,
        now=now,
        mta_sts_applied=mta_sts_applied or {},
        served=served,
    )
    for module in (
        check_spf,
        check_dkim,
        check_dmarc,
        check_xref,
        check_limits,
        check_mta_sts,
        check_dane,
    ):
        module.check(ctx)
    for module in (check_tlsrpt, check_bimi):
        module.check(ctx)
    findings = apply_silences(ctx)
    order = {sev: i for i, sev in enumerate(("error", "warning", "info"))}
    findings.sort(key=lambda f: (f.line or 0, f.column or 0, order[f.severity], f.rule, f.message))
    return Report(findings, ctx.budgets, live.answers if live is not None else None)


def apply_silences(ctx: Context) -> list[Finding]:
    """Mark silenced findings; report unknown rules (LINT001) and unused silences (LINT002)."""
    silences: dict[tuple[str, str], tuple[str, PathKey]] = {}
    for di, domain in enumerate(ctx.config.domains):
        for si, silence in enumerate(domain.silence):
            path: PathKey = ("domains", di, "silence", si, "rule")
            if silence.rule not in RULES:
                ctx.report(
                    "LINT001",
                    path,
                    f"{domain.name}: {silence.rule} is not a mailauth lint rule",
                    domain=None,
                )
                continue
            silences[(domain.name, silence.rule)] = (silence.reason, path)
    used: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for finding in ctx.findings:
        key = (finding.domain or "", finding.rule)
        if finding.domain is not None and key in silences and not finding.rule.startswith("LINT"):
            used.add(key)
            out.append(replace(finding, silenced=silences[key][0]))
        else:
            out.append(finding)
    ctx.findings = out
    for key, (_, path) in silences.items():
        if key not in used:
            ctx.report(
                "LINT002",
                path,
                f"{key[0]}: {key[1]} does not fire for this domain; the silence can go",
            )
    return ctx.findings

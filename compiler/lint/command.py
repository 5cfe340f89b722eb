"""``mailauth lint`` and ``mailauth spf refresh|budget``.

    mailauth lint [-c FILE] [--root DIR] [--format text|json] [--strict] [--resolve]
                  [--nameserver IP[:PORT]]

exits 0 when there is no error (warnings and info print), 1 when there is one (with
``--strict``, when there is a warning too) or when the file does not load or build.
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailauth.compiler.wording import count as counted
from mailauth.schema.errors import ConfigError, MailauthError, Problem

if TYPE_CHECKING:
    from mailauth.compiler import driver
    from mailauth.compiler.build import KnownKey
    from mailauth.compiler.lint.engine import Finding, Report
    from mailauth.compiler.model import MailModel
    from mailauth.compiler.spf.dnsview import LiveView
    from mailauth.schema.loader import PathKey
    from mailauth.schema.validate import LoadedConfig

# The commands import what they run when they run: `mailauth --help` stays quick.

LINT_FORMAT_VERSION = 1

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", metavar="FILE", help="The mailauth.yaml to read.", show_default=True
    ),
]
#: Every command that reads the files under the root (a key_file:, a hand-kept zone) takes it.
RootOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Prefix for every output path (default: root: in the file, else ./out).",
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")]
ResolveOpt = Annotated[
    bool,
    typer.Option("--resolve", help="Ask DNS about third-party SPF records (not only the cache)."),
]
NameserverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        metavar="IP[:PORT]",
        help="DNS server for --resolve / refresh (repeatable; default: the system's).",
    ),
]


class LintFormat(StrEnum):
    text = "text"
    json = "json"


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _job(config: Path, root: Path | None) -> driver.Job:
    from mailauth.compiler import driver

    return driver.open_job(config, root, None)  # its errors: compiler/cli.py prints them


def _model(
    job: driver.Job,
) -> tuple[MailModel | None, Mapping[tuple[str, str], KnownKey], list[Problem]]:
    """Build as plan does, but never insist on private keys: lint checks the file."""
    from mailauth.compiler import driver

    today = datetime.now(UTC).date()
    try:
        try:
            model, keys = driver.prepare(job, today, generate=False, dns=False)
        except ConfigError:
            model, keys = driver.prepare(
                job,
                today,
                generate=False,
                signer=False,
                dns=False,
                safe_keys=driver.has_signer(job),
            )
        return model, keys.index, []
    except ConfigError as exc:
        return None, {}, exc.problems


def _duplicate_spf(loaded: LoadedConfig) -> list[Finding]:
    """SPF001 for hand-written SPF records beside another, found before build refuses them."""
    from mailauth.compiler.lint.engine import make_finding
    from mailauth.compiler.spf.syntax import is_spf
    from mailauth.schema.names import norm

    config = loaded.config
    seen: dict[str, int] = {d.name: 1 for d in config.domains}
    found: list[Finding] = []
    for zi, zone in enumerate(config.zones):
        for ri, record in enumerate(zone.records):
            if record.type != "TXT" or not is_spf(record.value):
                continue
            owner = norm(zone.name if record.name == "@" else f"{record.name}.{zone.name}")
            seen[owner] = seen.get(owner, 0) + 1
            if seen[owner] > 1:
                path: PathKey = ("zones", zi, "records", ri, "value")
                domain = owner if owner in {d.name for d in config.domains} else None
                found.append(
                    make_finding(
                        loaded,
                        "SPF001",
                        path,
                        f"{owner} would have {seen[owner]} SPF records; receivers answer "
                        "permerror when there is more than one",
                        domain=domain,
                    )
                )
    return found


def _live(resolve: bool, nameserver: list[str] | None) -> LiveView | None:
    from mailauth.compiler.spf.dnsview import LiveView
    from mailauth.schema.names import parse_nameserver

    if not resolve:
        return None
    try:
        servers = [parse_nameserver(n) for n in nameserver or []]
    except ValueError as exc:
        raise MailauthError(f"--nameserver: {exc}") from None
    return LiveView(servers)


def _summary(report: Report, problems: Sequence[Problem] = ()) -> str:
    """The counts; the errors include those that kept the model from being built."""
    parts = [
        counted(report.count("error") + len(problems), "error"),
        counted(report.count("warning"), "warning"),
        f"{report.count('info')} info",
    ]
    silenced = len(report.findings) - len(report.active())
    if silenced:
        parts.append(f"{silenced} silenced")
    return ", ".join(parts)


def _text(report: Report, problems: Sequence[Problem], config: Path) -> str:
    lines = [f.text() for f in report.active()]
    lines += [f"error: {p}" for p in problems]
    for budget in report.budgets:
        if not budget.known:
            lines.append(
                f"spf: {budget.domain}: lookup budget unknown (at least {budget.lookups} of 10 "
                f"DNS lookups; not resolved: {', '.join(budget.unknown)})"
            )
            continue
        state = "" if budget.complete else " (at least; not all resolved)"
        lines.append(
            f"spf: {budget.domain}: {budget.lookups} of 10 DNS lookups, "
            f"{budget.voids} of 2 void{state}"
        )
    lines.append(f"{config}: {_summary(report, problems)}")
    return "\n".join(lines) + "\n"


def _json(report: Report, problems: Sequence[Problem], config: Path) -> str:
    from mailauth.compiler.spf.budget import as_dict

    doc: dict[str, Any] = {
        "format_version": LINT_FORMAT_VERSION,
        "config": str(config),
        "summary": {
            "error": report.count("error") + len(problems),
            "warning": report.count("warning"),
            "info": report.count("info"),
            "silenced": len(report.findings) - len(report.active()),
        },
        "findings": [f.as_dict() for f in report.findings],
        "errors": [{"where": p.where, "field": p.field, "message": p.message} for p in problems],
        "spf": [
            {
                "domain": b.domain,
                "record": b.text,
                "lookups": b.lookups,
                "void_lookups": b.voids,
                "complete": b.complete,
                "budget_known": b.known,
                "unresolved": b.unresolved,
                "tree": [as_dict(c) for c in b.root.children],
            }
            for b in report.budgets
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def lint_file(
    config: Path, *, root: Path | None = None, live: LiveView | None = None
) -> tuple[Report, list[Problem]]:
    """Lint ``config``: the report, and the errors that kept the model from being built.

    Raises ConfigError when the file does not load at all.
    """
    from mailauth.compiler import driver
    from mailauth.compiler.lint.engine import Report, lint

    loaded_job = driver.open_job(config, root, None)
    model, keys, problems = _model(loaded_job)
    if model is None:
        report = Report(_duplicate_spf(loaded_job.loaded))
        if report.findings:  # build says the same in its own words: keep the rule's
            problems = [p for p in problems if " SPF records; " not in p.message]
        return report, problems
    inputs = loaded_job.inputs
    try:
        cache = inputs.spf_cache.answers()
        lock = inputs.lock.entries
        now = datetime.now(UTC)
        applied = inputs.mta_sts_applied
        report = lint(
            inputs.loaded,
            model,
            keys,
            lock=lock,
            cache=cache,
            live=live,
            now=now,
            mta_sts_applied=applied,
            served=inputs.served,
        )
        return report, []
    except ConfigError as exc:  # an unreadable lock or SPF cache file
        return Report(), exc.problems


def lint_command(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    format: Annotated[
        LintFormat, typer.Option("--format", help="text for people, json for tools.")
    ] = LintFormat.text,
    strict: StrictOpt = False,
    resolve: ResolveOpt = False,
    nameserver: NameserverOpt = None,
) -> None:
    """Check mailauth.yaml against the RFC rules; exit 0 without errors, 1 with (docs/rules.md)."""
    live = _live(resolve, nameserver)
    report, problems = lint_file(config, root=root, live=live)
    if strict:
        report = report.strict()
    if format is LintFormat.json:
        typer.echo(_json(report, problems, config), nl=False)
    else:
        typer.echo(_text(report, problems, config), nl=False)
    raise typer.Exit(1 if report.errors or problems else 0)


def _built(config: Path, root: Path | None) -> tuple[driver.Job, MailModel]:
    job = _job(config, root)
    model, _, problems = _model(job)
    if model is None:
        raise ConfigError(problems)
    return job, model


def spf_budget(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    resolve: ResolveOpt = False,
    nameserver: NameserverOpt = None,
) -> None:
    """Print the DNS lookup tree of every SPF record; exit 1 if one is over a limit."""
    from mailauth.compiler.lint.inventory import build_inventory
    from mailauth.compiler.spf.budget import count, render
    from mailauth.compiler.spf.dnsview import CacheView, ChainView, ModelView

    job, model = _built(config, root)
    live = _live(resolve, nameserver)
    cache = job.inputs.spf_cache.answers()
    view = ChainView([ModelView(model), live if live is not None else CacheView(cache)])
    inventory = build_inventory(job.loaded.config, model)
    own = {s.owner for s in inventory.spf}
    over = False
    for site in inventory.spf:
        if site.kind == "chain":
            continue
        budget = count(site.owner, site.text, view, own=lambda n: n in own)
        over |= budget.over is not None or budget.void_over is not None
        typer.echo(f"{site.owner}: {site.text}")
        typer.echo("\n".join("  " + line for line in render(budget)))
        typer.echo("")
    if live is not None:
        for failure in live.failures:
            _err(f"warning: DNS query failed: {failure}")
    raise typer.Exit(1 if over else 0)


def refresh_answers(job: driver.Job, model: MailModel, live: LiveView) -> None:
    """Ask ``live`` everything the SPF records (before flattening) and flattening need."""
    from mailauth.compiler.lint.inventory import build_inventory
    from mailauth.compiler.spf.budget import count
    from mailauth.compiler.spf.dnsview import ChainView, ModelView
    from mailauth.compiler.spf.flatten import CannotFlatten, NotCached, collect
    from mailauth.compiler.spf.syntax import expand

    view = ChainView([ModelView(model), live])
    inventory = build_inventory(job.loaded.config, model)
    own = {s.owner for s in inventory.spf}
    for site in inventory.spf:
        if site.kind == "chain":
            continue
        count(site.owner, site.declared, view, own=lambda n: n in own)
        for name in site.spf.flatten if site.spf is not None else []:
            target = expand(name, site.owner)
            if target is None:
                continue
            with contextlib.suppress(NotCached, CannotFlatten):  # lint says why
                collect(target, view)


def void_includes(answers: Mapping[str, Mapping[str, Sequence[str]]]) -> list[str]:
    """The include/redirect targets asked, when not one of them holds an SPF record.

    Empty when there was none to ask or one answered: a single void include is lint's
    business (SPF014); every one of them void is a resolver that cannot reach the
    Internet, whose answers must not replace the cache.
    """
    asked = sorted(name for name, entry in answers.items() if "txt" in entry)
    if any(answers[name]["txt"] for name in asked):
        return []
    return asked


def _flattened(
    job: driver.Job, model: MailModel, answers: dict[str, dict[str, list[str]]]
) -> dict[str, dict[str, tuple[str, ...]]]:
    """For each domain, include -> the ip terms it flattens to with these answers."""
    from mailauth.compiler.lint.inventory import build_inventory
    from mailauth.compiler.spf.dnsview import CacheView
    from mailauth.compiler.spf.flatten import flatten

    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for site in build_inventory(job.loaded.config, model).spf:
        if site.kind != "domain" or site.spf is None or not site.spf.flatten:
            continue
        result = flatten(site.owner, site.declared, site.spf.flatten, CacheView(answers))
        out[site.owner] = result.networks
    return out


def spf_refresh(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    nameserver: NameserverOpt = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 2 if the cache is out of date."),
    ] = False,
) -> None:
    """Ask DNS for the third-party SPF records and write the SPF cache (commit it).

    Exit 0 when the cache is up to date or was rewritten; with --check, 2 when it is stale.
    """
    from mailauth.compiler.spf.cache import cache_path, render_cache, write_cache

    job, model = _built(config, root)
    live = _live(True, nameserver)
    assert live is not None
    refresh_answers(job, model, live)
    if live.failures:
        for failure in live.failures:
            _err(f"error: DNS query failed: {failure}")
        _err("error: the SPF cache was not changed")
        raise typer.Exit(1)
    empty = void_includes(live.answers)
    if empty:
        _err(
            "error: no SPF record came back for any third-party name asked "
            f"({', '.join(empty)}): each one is empty or does not exist. A resolver that is "
            "offline or captive (a hotel or guest network) answers like this; check the "
            "network or name a working one with --nameserver (if an include really has no "
            "SPF record, remove it from mailauth.yaml)"
        )
        _err("error: the SPF cache was not changed")
        raise typer.Exit(1)
    path = cache_path(job.loaded)
    try:
        old = job.inputs.spf_cache.answers()  # as read when the command started
    except ConfigError:
        old = {}
    before, after = render_cache(old), render_cache(live.answers)
    if path.exists() and before == after:
        typer.echo(f"{path}: up to date ({len(live.answers)} names)")
        raise typer.Exit(0)
    old_nets, new_nets = _flattened(job, model, old), _flattened(job, model, live.answers)
    for domain in sorted(set(old_nets) | set(new_nets)):
        was, now = old_nets.get(domain, {}), new_nets.get(domain, {})
        for include in sorted(set(was) | set(now)):
            added = sorted(set(now.get(include, ())) - set(was.get(include, ())))
            removed = sorted(set(was.get(include, ())) - set(now.get(include, ())))
            if added or removed:
                typer.echo(f"{domain}: include:{include} (flattened)")
                typer.echo("".join(f"  + {t}\n" for t in added), nl=False)
                typer.echo("".join(f"  - {t}\n" for t in removed), nl=False)
    diff = difflib.unified_diff(
        before.decode().splitlines(keepends=True) if path.exists() else [],
        after.decode().splitlines(keepends=True),
        f"a/{path.name}" if path.exists() else "/dev/null",
        f"b/{path.name}",
    )
    typer.echo("".join(diff), nl=False)
    if check:
        _err(f"{path}: out of date; run `mailauth spf refresh` and commit it")
        raise typer.Exit(2)
    write_cache(path, live.answers)
    typer.echo(f"wrote {path}; `mailauth plan` shows what changes in the zones")


def register(app: typer.Typer) -> None:
    """Add ``lint`` and ``spf`` to the mailauth command line."""
    app.command("lint", short_help="Check the RFC rules (docs/rules.md); exit 1 on an error.")(
        lint_command
    )
    from mailauth.compiler.clihelp import HelpGroup

    spf_app = typer.Typer(
        cls=HelpGroup,
        no_args_is_help=True,
        rich_markup_mode=None,
        help="SPF: lookup budgets and the cache of third-party records.",
    )
    spf_app.command("refresh", short_help="Write the SPF cache from DNS (commit it).")(spf_refresh)
    spf_app.command("budget", short_help="Print each SPF record's lookup tree.")(spf_budget)
    app.add_typer(spf_app, name="spf")

"""The ``mailauth`` command. Exit status: 0 nothing to do / ok, 2 changes pending, 1 error.

This is the one place where errors become output: the commands raise MailauthError (and
its subclasses, schema/errors.py) and :class:`_Boundary` prints it; a TargetBug (a
renderer that failed) is reported as a mailauth bug, with exit status 70 and, under
``--debug``, its traceback.
"""

from __future__ import annotations

import gc
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailauth.compiler.clihelp import CONTEXT, HelpGroup
from mailauth.compiler.lint.command import ConfigOpt, RootOpt, StrictOpt
from mailauth.compiler.lint.command import register as register_lint
from mailauth.compiler.rotation.cli import register as register_rotation
from mailauth.compiler.wording import count
from mailauth.schema.errors import MailauthError, TargetBug

if TYPE_CHECKING:
    # typer vendors click; TyperGroup.invoke takes the vendored Context.
    from typer._click.core import Context as ClickContext

    from mailauth.compiler import driver
    from mailauth.compiler.plan import Plan
    from mailauth.compiler.report import KeyProgress

# The pipeline (pydantic models, dnspython, cryptography, the backends) is imported by the
# commands that run it, not here: `mailauth --help` and a mistyped option start quickly.

#: What a command says after the problems of a MailauthError; by default nothing was written.
#: validate and verify never write, so they do not say so.
_NOT_DONE = {
    "validate": "{errors}; the file is not valid.",
    "verify": "error: {errors}; nothing was checked.",
    "lint": None,
    "spf": None,
}
_NOTHING_WRITTEN = "{errors}; nothing was written."

#: --debug of the run in progress (for main(), which reports the errors no command caught).
_debug = False


class _Boundary(HelpGroup):
    """The mailauth command group: turns the errors its commands raise into output."""

    def invoke(self, ctx: ClickContext) -> Any:
        global _debug
        _debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except TargetBug as bug:
            if _debug:
                _err("".join(traceback.format_exception(bug.error)).rstrip("\n"))
            _err(
                f"error: a mailauth bug, not a mistake in your files: {bug}. Please report "
                "it" + ("." if _debug else "; --debug shows the traceback.")
            )
            raise typer.Exit(bug.exit_code) from None
        except MailauthError as exc:
            _report(exc, ctx.invoked_subcommand)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # the host refused: a file, a directory, a permission
            _err(f"error: {exc}")
            raise typer.Exit(1) from None


def _report(exc: MailauthError, command: str | None) -> None:
    if not exc.problems:
        _err(f"error: {exc}")
        return
    for problem in exc.problems:
        _err(f"error: {problem}")
    footer = _NOT_DONE.get(command or "", _NOTHING_WRITTEN)
    if footer is not None:
        _err(footer.format(errors=count(len(exc.problems), "error")))


# Plain click help (rich_markup_mode=None): no "<bool>" beside a flag, no colours and no
# box drawing, whatever the terminal (NO_COLOR, TERM=dumb, a pipe). --install-completion
# and --show-completion are typer's.
app = typer.Typer(
    cls=_Boundary,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
    help="Compile mailauth.yaml into SPF, DKIM and DMARC records and mail-server config.",
)

InitConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="Where to write the starter mailauth.yaml.",
        show_default=True,
    ),
]
TargetOpt = Annotated[
    list[str] | None,
    typer.Option("--target", metavar="NAME", help="Only this target (repeatable)."),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain output, no ANSI colours.")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only the summary (and errors), no diffs.")
]


class VerifyFormat(StrEnum):
    text = "text"
    json = "json"


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class PlatformChoice(StrEnum):
    """``init --platform``: backends/platforms.py's PLATFORMS (a test keeps them equal)."""

    rhel = "rhel"
    debian = "debian"


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mailauth")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mailauth {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On a mailauth bug, show the traceback.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options for every command (read by _Boundary)."""


def _warn(job_or_loaded: driver.Job) -> None:
    for warning in job_or_loaded.loaded.warnings:
        _err(f"warning: {warning}")


def _run_apply(
    job: driver.Job, confirm: Callable[[Plan], bool], progress: KeyProgress, **options: Any
) -> Plan:
    """driver.apply, its progress bar closed whatever happens; a declined apply exits 1."""
    from mailauth.compiler import driver

    try:
        result = driver.apply(job, confirm, progress=progress, **options)
    finally:
        progress.close()
    if result is None:
        typer.echo("Nothing written.")
        raise typer.Exit(1)
    return result


def _ask(yes: bool, question: str) -> bool:
    """--yes answers; otherwise a person at a terminal must, and without one we refuse."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise MailauthError("no terminal to ask for confirmation; re-run with --yes")
    return typer.confirm(question, default=False)


def _colour(no_color: bool) -> bool:
    """Colour only on a terminal that shows it, and unless NO_COLOR (no-color.org) is set."""
    return (
        not no_color
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
        and sys.stdout.isatty()
    )


def _open(config: Path, root: Path | None, target: list[str] | None) -> driver.Job:
    from mailauth.compiler import driver

    job = driver.open_job(config, root, target)
    _warn(job)
    return job


@app.command()
def init(
    config: InitConfigOpt = Path("mailauth.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    platform: Annotated[
        PlatformChoice,
        typer.Option(
            "--platform",
            help="The mail host's distribution, which sets the default paths "
            "(debian: /etc/bind, /etc/dkimkeys; rhel: /var/named, /etc/opendkim/keys).",
        ),
    ] = PlatformChoice.rhel,
) -> None:
    """Write a commented starter mailauth.yaml."""
    from mailauth.compiler.scaffold import starter

    if config.exists() and not force:
        raise MailauthError(f"{config} exists; use --force to overwrite it")
    config.write_text(starter(platform.value))
    command = shlex.join(["mailauth", "plan", "-c", str(config)])
    typer.echo(f"wrote {config}; edit it, then run `{command}`")


@app.command(short_help="Check the schema and the policy rules; exit 0 valid, 1 not.")
def validate(config: ConfigOpt = Path("mailauth.yaml"), root: RootOpt = None) -> None:
    """Check mailauth.yaml (schema and policy rules); exit 0 if valid, 1 if not."""
    from mailauth.compiler import driver

    job = _open(config, root, None)
    model, warnings = driver.checked_model(job, lenient=True)
    for warning in warnings:
        _err(warning)
    records = sum(len(z.records) for z in model.zones)
    domains = count(len(model.domains), "domain")
    typer.echo(f"{config}: valid ({domains}, {count(records, 'record')})")


@app.command(short_help="Show apply's changes as diffs; exit 0 nothing to do, 2 pending.")
def plan(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    target: TargetOpt = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    no_color: NoColorOpt = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the plan to this file, not stdout."),
    ] = None,
    quiet: QuietOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Show what apply would change, as diffs; exit 0 nothing to do, 2 changes pending."""
    from mailauth.compiler import driver
    from mailauth.compiler.report import as_json, as_markdown, as_text, summary

    job = replace(_open(config, root, target), strict=strict)
    result = driver.plan(job)
    digest = driver.checksum(job, result)
    if format is Format.json:
        text = as_json(result, checksum=digest)
    elif format is Format.markdown:
        text = as_markdown(result, checksum=digest)
    else:
        colour = out is None and _colour(no_color)
        text = as_text(result, colour=colour, checksum=digest, quiet=quiet)
    if out is None:
        typer.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise MailauthError(f"--out {out}: {exc}") from None
        if not quiet:
            typer.echo(f"Wrote the plan to {out}. {summary(result)}\nPlan checksum: {digest}")
    raise typer.Exit(2 if result.has_work else 0)


@app.command(short_help="Write the plan atomically (backups kept); say what to reload.")
def apply(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    target: TargetOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    no_color: NoColorOpt = False,
    checksum: Annotated[
        str | None,
        typer.Option(
            "--checksum",
            metavar="SUM",
            help="Write only if the plan has this reviewed checksum (no --yes needed).",
        ),
    ] = None,
    quiet: QuietOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Write the planned changes atomically (backups kept) and say what to reload.

    With --checksum, the reviewed checksum is the confirmation: apply asks nothing and
    needs no --yes.
    """
    from mailauth.compiler.checksum import parse
    from mailauth.compiler.report import (
        KeyProgress,
        as_text,
        host_step_lines,
        summary,
        withheld_note,
    )

    if checksum is not None:
        checksum = parse(checksum)  # a mistyped or truncated one, before any work
    yes = yes or checksum is not None
    job = replace(_open(config, root, target), strict=strict)
    if not yes and not sys.stdin.isatty():
        raise MailauthError(
            "no terminal to ask for confirmation; re-run with --yes, or with --checksum "
            "and the checksum of the reviewed plan (nothing written)"
        )
    colour = _colour(no_color)

    def confirm(pending: Plan) -> bool:
        if not quiet:
            typer.echo(as_text(pending, colour=colour), nl=False)
        return _ask(yes, f"Write these changes under {job.root}?")

    result = _run_apply(job, confirm, KeyProgress(enabled=not quiet), expect_checksum=checksum)
    if result.already_applied is not None:
        typer.echo(
            f"Already applied: {result.already_applied} is the last reviewed plan applied "
            f"under {job.root}, and nothing is left to do."
        )
        return
    if not result.has_work:
        typer.echo("No changes: everything under the root is up to date.")
        return
    typer.echo(f"Applied under {job.root}. " + summary(result))
    if result.reloads:
        # As the backends wrote them (each quotes the paths it puts in its command); one
        # that still holds unquoted shell syntax is withheld (plan.shell_safe).
        typer.echo("Now run: " + "; ".join(result.reloads))
    if result.checks:
        typer.echo("Check the configs with: " + "; ".join(result.checks))
    for line in host_step_lines(result):
        typer.echo(line)
    note = withheld_note(result)
    if note is not None:
        _err(note)


keys_app = typer.Typer(
    cls=HelpGroup,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="DKIM keys: create the missing ones, rotate them (docs/key-rotation.md).",
)
app.add_typer(keys_app, name="keys")
register_rotation(keys_app)  # mailauth keys rotate|promote|retire|status


@keys_app.command("generate")
def keys_generate(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
) -> None:
    """Create missing private keys (0600) and record their public halves in mailauth.lock."""
    from mailauth.compiler import driver
    from mailauth.compiler.report import KeyProgress, as_text

    job = _open(config, root, None)
    if not yes and not sys.stdin.isatty():
        raise MailauthError(
            "no terminal to ask for confirmation; re-run with --yes (nothing written)"
        )
    if not driver.has_signer(job):
        raise MailauthError(
            f"no signer ({' or '.join(driver.SIGNERS)}) under `targets:`; "
            "keys are made on the mail host"
        )

    def confirm(pending: Plan) -> bool:
        typer.echo(as_text(pending, colour=False, diffs=False), nl=False)
        return _ask(yes, "Create these keys?")

    result = _run_apply(job, confirm, KeyProgress(), only_keys=True)
    made = [c.path for c in result.pending if c.create_only]
    typer.echo(f"{count(len(made), 'key')} created." if made else "All keys exist; nothing to do.")


@app.command(short_help="Compare live DNS with mailauth.yaml; exit 0 in sync, 2 drift.")
def verify(
    config: ConfigOpt = Path("mailauth.yaml"),
    root: RootOpt = None,
    nameserver: Annotated[
        str | None,
        typer.Option(metavar="IP[:PORT]", help="Ask this server instead of the system resolver."),
    ] = None,
    format: Annotated[
        VerifyFormat, typer.Option("--format", help="Output format.")
    ] = VerifyFormat.text,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to wait for each answer.")
    ] = 3.0,
    zone: Annotated[
        list[str] | None,
        typer.Option(
            "--zone",
            metavar="ZONE",
            help="Check only this zone of mailauth.yaml (repeat for more).",
        ),
    ] = None,
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare the live DNS with mailauth.yaml; exit 0 in sync, 2 drift, 1 error.

    A zone the server refuses or does not answer for is reported as not checked (exit 1),
    and the other zones are still checked.
    """
    from mailauth.compiler.verify import as_json, as_text, run_verify

    job = _open(config, root, None)
    report = run_verify(job, nameserver, timeout=timeout, zones=zone)
    if format is VerifyFormat.json:
        typer.echo(as_json(report), nl=False)
    else:
        typer.echo(as_text(report, colour=_colour(no_color), quiet=quiet), nl=False)
    raise typer.Exit(report.exit_code)


@app.command()
def schema() -> None:
    """Print the JSON Schema of mailauth.yaml, for editors."""
    from mailauth.schema.models import Config

    typer.echo(json.dumps(Config.model_json_schema(), indent=2))


@app.command("import", short_help="Read an existing setup into a commented mailauth.yaml.")
def import_(
    root: Annotated[
        Path,
        typer.Option(metavar="DIR", help="The host's / (files are looked for below it)."),
    ] = Path("/"),
    zone: Annotated[
        list[Path] | None,
        typer.Option("--zone", metavar="FILE", help="A BIND zone file (repeatable)."),
    ] = None,
    named_conf: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="named.conf whose zone statements name the zones."),
    ] = None,
    opendkim_conf: Annotated[
        Path | None, typer.Option(metavar="FILE", help="opendkim.conf (with its tables).")
    ] = None,
    dkimpy_conf: Annotated[
        Path | None, typer.Option(metavar="FILE", help="dkimpy-milter.conf (with its tables).")
    ] = None,
    opendmarc_conf: Annotated[
        Path | None, typer.Option(metavar="FILE", help="opendmarc.conf.")
    ] = None,
    main_cf: Annotated[Path | None, typer.Option(metavar="FILE", help="Postfix main.cf.")] = None,
    master_cf: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Postfix master.cf (milter tags).")
    ] = None,
    include_mode: Annotated[
        bool,
        typer.Option(
            "--include-mode",
            help="Keep the zone files by hand: mailauth writes an $INCLUDE fragment each.",
        ),
    ] = False,
    platform: Annotated[
        PlatformChoice | None,
        typer.Option("--platform", help="The mail host's distribution (sets default paths)."),
    ] = None,
    from_dns: Annotated[
        list[str] | None,
        typer.Option(
            "--from-dns",
            metavar="DOMAIN",
            help="Read this domain's records from live DNS instead of zone files (repeatable).",
        ),
    ] = None,
    nameserver: Annotated[
        str | None,
        typer.Option(metavar="IP[:PORT]", help="With --from-dns: the server to ask."),
    ] = None,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="With --from-dns: seconds per answer.")
    ] = 3.0,
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Where to write mailauth.yaml (mailauth.lock goes beside it).",
            show_default=True,
        ),
    ] = Path("mailauth.yaml"),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing mailauth.yaml and lock.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="After writing, run the first plan and sort its changes; exit 1 if any "
            "DNS record would change.",
        ),
    ] = False,
) -> None:
    """Read an existing hand-made setup into a commented mailauth.yaml and mailauth.lock.

    Zone files (or live DNS with --from-dns), OpenDKIM or dkimpy-milter, OpenDMARC and
    Postfix are read below --root. Whatever cannot be represented is listed, here and in
    the file. A key whose public half differs from DNS is refused: nothing is written.
    """
    from mailauth.compiler.importer.command import Options, run_import

    options = Options(
        root=root,
        zones=tuple(zone or ()),
        named_conf=named_conf,
        opendkim_conf=opendkim_conf,
        dkimpy_conf=dkimpy_conf,
        opendmarc_conf=opendmarc_conf,
        main_cf=main_cf,
        master_cf=master_cf,
        include_mode=include_mode,
        platform=None if platform is None else platform.value,
        from_dns=tuple(from_dns or ()),
        nameserver=nameserver,
        timeout=timeout,
        config=config,
        force=force,
        check=check,
    )
    raise typer.Exit(run_import(options, typer.echo))


register_lint(app)  # mailauth lint, mailauth spf refresh|budget (docs/rules.md)


def main() -> None:
    # mailauth builds one large graph of objects that lives until it exits, and has almost
    # no cyclic garbage; CPython's collector with its default thresholds walks that graph
    # again and again as it grows (about 2/3 of the time of a plan of 10,000 domains).
    # Collect young objects in larger batches and the old generation only rarely.
    gc.set_threshold(50_000, 50, 1000)
    try:
        app()
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except KeyboardInterrupt:
        print("interrupted; files are each old or new (see `mailauth plan`)", file=sys.stderr)
        status = 130
    except Exception as exc:  # a bug, or input no check caught: a message, never a traceback
        if _debug or os.environ.get("MAILAUTH_DEBUG"):
            raise
        print(
            f"error: {type(exc).__name__}: {exc} (a mailauth bug: please report it; "
            "--debug shows the traceback)",
            file=sys.stderr,
        )
        status = 1
    else:
        status = 0
    # Freeing that graph object by object, as the interpreter does on its way out, takes
    # longer than a second after a plan of 10,000 domains; everything is written and closed
    # by now, so flush what is printed and leave at once (mypy's command does the same).
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe: what the interpreter itself would report as 120
        status = status or 120
    os._exit(status)


def _exit_status(code: object) -> int:
    """The exit status ``sys.exit(code)`` gives (a message is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1

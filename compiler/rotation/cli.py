"""``mailauth keys rotate|promote|retire|status``: the command line of key rotation.

Registered on the ``keys`` sub-app of compiler/cli.py (which turns the MailauthError of a
refusal into ``error: ...`` and exit status 1). Each command writes mailauth.lock only,
then says to plan, review and apply (docs/key-rotation.md).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mailauth.compiler.lint.command import ConfigOpt, RootOpt

DomainOpt = Annotated[
    list[str] | None,
    typer.Option("--domain", "-d", metavar="DOMAIN", help="Only this domain (repeatable)."),
]


class Algorithm(StrEnum):
    rsa = "rsa"
    ed25519 = "ed25519"


AlgorithmOpt = Annotated[
    list[Algorithm] | None,
    typer.Option("--algorithm", help="Only the keys of this algorithm (repeatable; default: all)."),
]


class StatusFormat(StrEnum):
    text = "text"
    json = "json"


_NEXT = (
    "mailauth.lock changed. Next: `mailauth plan`, review, commit mailauth.lock, then "
    "`mailauth apply` (on the mail host and wherever DNS is pushed)."
)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _said(done: list[str], warnings: list[str]) -> None:
    for warning in warnings:
        typer.echo(warning, err=True)
    for line in done:
        typer.echo(line)
    if done:
        typer.echo(_NEXT)


def register(keys_app: typer.Typer) -> None:
    """Add the rotation commands to ``mailauth keys``."""

    @keys_app.command("rotate")
    def keys_rotate(
        config: ConfigOpt = Path("mailauth.yaml"),
        domain: DomainOpt = None,
        algorithm: AlgorithmOpt = None,
        due: Annotated[
            bool,
            typer.Option("--due", help="Only the domains whose key is older than rotation.every."),
        ] = False,
    ) -> None:
        """Publish a new key beside each active one (not signing yet); writes mailauth.lock."""
        from mailauth.compiler.rotation import commands

        session = commands.open_session(config)
        commands.rotate(session, domain or [], [a.value for a in algorithm or []], _now(), due=due)
        if due and not session.done:
            typer.echo("No domain is due for rotation.")
        _said(session.done, session.warnings)

    @keys_app.command("promote")
    def keys_promote(
        config: ConfigOpt = Path("mailauth.yaml"),
        root: RootOpt = None,
        domain: DomainOpt = None,
        algorithm: AlgorithmOpt = None,
        nameserver: Annotated[
            list[str] | None,
            typer.Option(
                metavar="IP[:PORT]",
                help="Ask these servers (repeatable) instead of the zone's name servers.",
            ),
        ] = None,
        timeout: Annotated[
            float, typer.Option(metavar="SECONDS", help="Seconds to wait for each answer.")
        ] = 3.0,
        force: Annotated[
            bool,
            typer.Option(
                "--force",
                help="Promote even if DNS does not serve the key yet or its TTL has not "
                "passed (a warning says so).",
            ),
        ] = False,
    ) -> None:
        """Sign with the published key once every authoritative server serves it and its
        TTL has passed; the key it replaces starts retiring. Writes mailauth.lock."""
        from mailauth.compiler.rotation import commands

        session = commands.open_session(config)
        options = commands.LiveOptions(nameserver or [], root, timeout)
        commands.promote(
            session, domain or [], [a.value for a in algorithm or []], _now(), options,
            force=force,
        )  # fmt: skip
        _said(session.done, session.warnings)

    @keys_app.command("retire")
    def keys_retire(
        config: ConfigOpt = Path("mailauth.yaml"),
        domain: DomainOpt = None,
        purge: Annotated[
            bool,
            typer.Option(
                "--purge", help="Delete removed keys' private files instead of archiving them."
            ),
        ] = False,
    ) -> None:
        """Revoke (p= empty) retiring keys whose overlap is over; remove revoked keys whose
        time is up (out of DNS and the lock). Writes mailauth.lock."""
        from mailauth.compiler.rotation import commands

        session = commands.open_session(config)
        commands.retire(session, domain or [], _now(), purge=purge)
        _said(session.done, session.warnings)

    @keys_app.command("status")
    def keys_status(
        config: ConfigOpt = Path("mailauth.yaml"),
        format: Annotated[
            StatusFormat,
            typer.Option(
                "--format", help="text for people, json for tools (docs/key-rotation.md)."
            ),
        ] = StatusFormat.text,
    ) -> None:
        """Every domain's keys, their states and ages, and what is due when."""
        from mailauth.compiler.rotation import commands

        session = commands.open_session(config)
        doc = commands.status(session, _now())
        if format is StatusFormat.json:
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            typer.echo(commands.status_text(doc), nl=False)

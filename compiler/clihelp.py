"""How ``mailauth --help`` lists the commands: each command's first paragraph whole.

click cuts a command's help to what fits beside its name at 80 columns ("exit 0 if...");
mailauth's one-line helps say the exit statuses at the end, the part cut off. The help
is plain click text (no rich panels): see compiler/cli.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click.core import Context
    from typer._click.formatting import HelpFormatter

#: Help text may use this many columns on a wide terminal (click's default is 80).
HELP_WIDTH = 100
CONTEXT = {"max_content_width": HELP_WIDTH}


class HelpGroup(TyperGroup):
    """A command group that lists each command with its whole first paragraph, wrapped."""

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

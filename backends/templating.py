"""The jinja2 templates (backends/templates/*.j2) for the files a person reads: one
environment, built on first use, and the guard every printed value passes.

The values a template prints were checked when mailauth.yaml was read (schema/strings.py:
a config value holds no control character and no separator of its format). The guard
here checks them again as they are printed, so that a value that slipped past
validation stops the render instead of writing a second directive into a daemon's config:
a bug, reported as :class:`UnsafeValueError`, never a user mistake.

Three kinds of text reach a template:

* a plain ``str`` (a setting, a path, a count) may hold no control character at all;
* :class:`Inline` is text already escaped for where it goes (a Markdown table cell): it
  may hold any character but a line break, and keeps what it holds, as the plan always
  showed it;
* :class:`Block` is multi-line text printed whole (a diff inside a fence, the aligned
  settings): the code that made it answers for it.

jinja2 is imported when the first template is rendered, not when this module is: ``mailauth
--help``, ``validate`` and ``schema`` never pay for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"

#: Any control character (C0, DEL, C1) and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: What ends a line for str.splitlines (and so for anyone reading the output line by line).
_LINE_BREAK = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


class UnsafeValueError(RuntimeError):
    """A value with a line break or control character reached a template: a bug (the
    value should have been refused when mailauth.yaml was read), never a user mistake."""


class Inline(str):
    """Text escaped for its place in the output (a Markdown cell): no line break in it."""

    __slots__ = ()


class Block(str):
    """Multi-line text printed as it is: a diff inside a fence, the aligned settings."""

    __slots__ = ()


def checked(value: object) -> object:
    """``value`` if a template may print it; raises UnsafeValueError otherwise.

    None and booleans are refused too: printed, they would read ``None`` and ``True``,
    which no config format here means.
    """
    if isinstance(value, Block):
        return value
    if isinstance(value, Inline):
        if _LINE_BREAK.search(value):
            raise UnsafeValueError(f"line break in a one-line value: {value!r}")
        return value
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise UnsafeValueError(f"control character in a value: {value!r}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise UnsafeValueError(f"a template printed {value!r} ({type(value).__name__})")


#: Where values start in a ``Key  Value`` config: fixed, so that an added option (however
#: long its name) is one added line and never moves the values of the others.
VALUE_COLUMN = 20


def key_value_lines(
    rows: Iterable[tuple[str, str | int] | None], gap: int = 2, column: int = VALUE_COLUMN
) -> Block:
    """The ``Key  Value`` lines of opendkim.conf, dkimpy-milter.conf and opendmarc.conf:
    each value at ``column``, or ``gap`` spaces after a key too long for it. Each line
    depends on its own row only (not on the longest key), so a diff shows only the rows
    that changed. None rows are skipped (a template writes ``(key, value) if cond else
    none``). No trailing newline."""
    kept = [row for row in rows if row is not None]
    for name, value in kept:
        checked(name)
        checked(value)
    return Block(
        "\n".join(f"{name:<{max(column, len(name) + gap)}}{value}" for name, value in kept)
    )


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one jinja2 environment: strict about undefined names, no HTML escaping (none of
    the outputs is HTML; the Markdown plan escapes its cells itself), the guard on every
    ``{{ value }}``, and blocks that leave no blank lines behind."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        finalize=checked,
    )
    env.globals["key_values"] = key_value_lines
    return env


def render(name: str, /, **context: object) -> str:
    """The template ``backends/templates/<name>`` with ``context``."""
    return environment().get_template(name).render(context)

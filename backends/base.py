"""The one interface every target implements, and the Artifact it returns.

A backend is a pure function of the MailModel and its own settings: no I/O, no clock, no
randomness. Files whose new content depends on what is already on disk (a zone's SOA
serial, a main.cf edited in place) carry an ``edit`` function instead of fixed content; the
planner calls it with the current bytes, so the backend stays pure and testable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Protocol

from mailauth.compiler.model import MailModel


@dataclass(frozen=True)
class EditContext:
    """What an edit function may know besides the file: the day, and what else changes.

    ``changed`` holds those of the artifact's ``after`` paths that change in this plan.
    """

    today: date
    changed: frozenset[str] = field(default_factory=frozenset)


Edit = Callable[[bytes | None, EditContext], bytes]


class EditError(Exception):
    """An edit cannot be made (say, a hand-kept file to edit is missing or unreadable)."""


@dataclass(frozen=True)
class Artifact:
    """One file a target wants on the host. ``path`` is absolute on the host, before --root.

    ``after`` names artifacts whose change this one's ``edit`` looks at (they are planned
    first). ``reload`` is the command that makes the service read the new file. ``owned``
    is False for hand-kept files that mailauth only edits: those are never deleted.
    ``rooted`` is False for files beside mailauth.yaml (the lock file), which --root does
    not move. ``create_only`` files (private keys) are written once and never replaced.
    ``placeholder`` stands in for content not known until apply (a key not yet generated).

    ``mode`` is the mode of a file mailauth creates. A file it replaces keeps its own mode,
    and (when mailauth runs as root) its owner and group, unless the artifact requires
    them: ``owner``/``group`` when set, and ``mode`` when ``mode_fixed`` (or ``secret``) is
    set. An admin's 0640 root:bind zone stays so; a private key is always 0600.
    ``key_store`` (private keys) is the top directory that gets ``dir_mode`` and the key
    owner; missing directories above it are shared ones (``/etc``), made 0755.
    """

    path: str
    content: bytes = b""
    mode: int = 0o644
    secret: bool = False
    edit: Edit | None = None
    after: tuple[str, ...] = ()
    reload: str | None = None
    owner: str | None = None
    group: str | None = None
    owned: bool = True
    rooted: bool = True
    create_only: bool = False
    dir_mode: int = 0o755
    placeholder: str | None = None
    mode_fixed: bool = False
    key_store: str | None = None  # made with dir_mode; directories above it 0755

    def render(self, current: bytes | None, ctx: EditContext) -> bytes:
        """The bytes this file should hold, given what it holds now."""
        if self.edit is not None:
            return self.edit(current, ctx)
        return self.content


class Backend(Protocol):
    """A target: renders the model into the files of one program."""

    name: ClassVar[str]

    def render(self, model: MailModel, target: Any) -> Sequence[Artifact]: ...

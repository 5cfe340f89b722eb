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
    """What an edit function may know besides the file: the day, what else changes, and
    what the last apply recorded about this file.

    ``changed`` holds those of the artifact's ``after`` paths that change in this plan.
    ``state`` is the record the edit returned last time (`Edited.state`, kept in the
    manifest), None on a first run: how an edit of a file mailauth shares with the host
    (main.cf, master.cf) knows which entries in it are mailauth's. ``root`` is --root.
    """

    today: date
    changed: frozenset[str] = field(default_factory=frozenset)
    state: Any = None
    root: str = "/"  # --root: a file under it may name paths as they are there


@dataclass(frozen=True)
class Edited:
    """What an edit may return instead of bare bytes.

    ``content`` None leaves an absent file absent (an edit with nothing to do on a host
    that lacks the file). ``state`` is JSON-ready and comes back as `EditContext.state`
    next time; None records nothing. ``notes`` go to the plan's notes.
    """

    content: bytes | None
    state: Any = None
    notes: tuple[str, ...] = ()


Edit = Callable[[bytes | None, EditContext], "bytes | Edited"]


class EditError(Exception):
    """An edit cannot be made (say, a hand-kept file to edit is missing or unreadable).

    ``field`` is the place in mailauth.yaml to blame, when it is not the target itself
    (a zone's ``serial_file``): the driver turns it into FILE:LINE:COL.
    """

    def __init__(self, message: str, field: tuple[str | int, ...] | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingHostFile(EditError):
    """A file mailauth edits but does not own is not under the root: it is never invented.

    The planner says where under the root it is missing and what to copy there.
    """

    def __init__(
        self, path: str, hint: str = "", field: tuple[str | int, ...] | None = None
    ) -> None:
        super().__init__(f"{path} does not exist", field)
        self.path = path
        self.hint = hint


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
        """The bytes this file should hold, given what it holds now (b"" for "absent")."""
        edited = self.render_edited(current, ctx)
        return edited.content if edited.content is not None else b""

    def render_edited(self, current: bytes | None, ctx: EditContext) -> Edited:
        """The file's new content, with the state and notes an edit may return."""
        if self.edit is None:
            return Edited(self.content)
        result = self.edit(current, ctx)
        return result if isinstance(result, Edited) else Edited(result)


class Backend(Protocol):
    """A target: renders the model into the files of one program."""

    name: ClassVar[str]

    def render(self, model: MailModel, target: Any) -> Sequence[Artifact]: ...

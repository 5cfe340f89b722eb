"""The one interface every target implements, and the Artifact it returns.

A backend is a pure function of the MailModel and its own settings: no I/O, no clock, no
randomness. Files whose new content depends on what is already on disk (a zone's SOA
serial, a main.cf edited in place) carry an ``edit`` function instead of fixed content; the
planner calls it with the current bytes, so the backend stays pure and testable.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from mailauth.backends.reloads import ReloadChoice, merge_restarts
from mailauth.compiler.model import DomainModel, MailModel, Milter

if TYPE_CHECKING:  # at run time schema.models imports the backends, not the reverse
    from mailauth.schema.errors import Problem
    from mailauth.schema.models import Config, DkimSelector, Domain
    from mailauth.schema.validate import LoadedConfig


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


#: A place in mailauth.yaml: ``("targets", "postfix", "socket")``.
Field = tuple[str | int, ...]
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
    first). ``reload`` is the command that makes the service read the new file;
    ``reload_choice``, when set, picks it instead from the file's old and new content (a
    setting a daemon reads only at start needs a restart, a table a reload). ``owned``
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
    reload_choice: ReloadChoice | None = None
    owner: str | None = None
    group: str | None = None
    owned: bool = True
    rooted: bool = True
    create_only: bool = False
    dir_mode: int = 0o755
    placeholder: str | None = None
    mode_fixed: bool = False
    key_store: str | None = None  # made with dir_mode; directories above it 0755
    # What the file is, for the plan's report: the DNS zone it holds records of (if any),
    # and its format ("zone": a zone file or fragment mailauth writes whole; "yaml-zone":
    # an octodns YamlProvider zone; "conf", "table", "key"...); None when not said.
    zone: str | None = None
    format: str | None = None

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


@dataclass(frozen=True)
class MilterRole:
    """A place in the milter chain: mail passes the roles in ``order``, and one target at
    most fills each (two signers would both sign and verify the same mail)."""

    order: int
    what: str  # "signer": how the conflict message names it
    why: str  # why two of them cannot run side by side
    hint: str  # which one to keep


SIGNER = MilterRole(
    0,
    "signer",
    "both would sign and verify the same mail",
    "dkimpy-milter if any selector is ed25519, otherwise either",
)
DMARC_VERIFIER = MilterRole(
    1, "DMARC verifier", "both would judge the same mail", "keep one of them"
)


@dataclass
class BuildContext:
    """What a backend's ``milter`` and ``check`` see while the model is built: the config
    with its positions, the resolved domains, the milter chain built so far (target name,
    role, milter, in the order mail passes), and the notes to add to."""

    loaded: LoadedConfig
    domains: Sequence[DomainModel]
    notes: list[str]
    configured: tuple[str, ...]  # the targets set under `targets:`, registry order
    has_mta: bool  # a configured target connects the milters to the MTA (Postfix)
    milters: list[tuple[str, MilterRole, Milter]] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.loaded.config

    def problem(self, path: Field, message: str, named: Field | None = None) -> Problem:
        """``message`` at ``path`` in mailauth.yaml: FILE:LINE:COL and the dotted field
        (``named``, when the field to name is not the place to point at)."""
        from mailauth.schema.errors import Problem
        from mailauth.schema.validate import dotted

        return Problem(self.loaded.source.where(path), dotted(named or path), message)

    def milter_of(self, role: MilterRole) -> Milter | None:
        """The milter filling ``role`` (built before this one), if any."""
        return next((m for _, r, m in self.milters if r == role), None)

    def selectors(self) -> Iterator[tuple[Domain, Sequence[DkimSelector], Field]]:
        """Each domain of the file with the DKIM selectors it uses (its own, else the
        defaults'), and where those are written."""
        config = self.config
        for index, domain in enumerate(config.domains):
            if domain.dkim is not None:
                yield domain, domain.dkim.selectors, ("domains", index, "dkim")
            else:
                yield domain, config.defaults.dkim.selectors, ("defaults", "dkim")

    @property
    def authserv_default(self) -> str:
        """The host's authserv-id: its first mail host, else the name gethostname() gives."""
        hosts = self.config.mail_hosts
        return hosts[0].name if hosts else "HOSTNAME"


SettingsT = TypeVar("SettingsT", bound=BaseModel)


class Backend(Generic[SettingsT]):
    """A target: renders the model into the files of one program.

    A subclass sets ``name`` (its key under ``targets:``) and ``settings`` (the pydantic
    model of that key: the ``targets:`` schema is derived from the registry), and
    overrides what applies to it; the defaults say "nothing". Nothing outside the
    backends names a target: the pipeline asks these attributes instead.
    """

    name: ClassVar[str]
    settings: ClassVar[type[BaseModel]]
    #: Set when `targets:` is absent from mailauth.yaml (bind: zone files by default).
    default_on: ClassVar[bool] = False
    #: Signs mail: needs the private keys (made only where a signer runs).
    needs_private_keys: ClassVar[bool] = False
    #: Publishes DNS: needs every public key (from the lock file) to write the records.
    needs_public_keys: ClassVar[bool] = False
    #: Connects the milters to the mail server (Postfix): tags the services to sign.
    connects_milters: ClassVar[bool] = False
    #: Its place in the milter chain, if it is a milter (``milter`` builds it).
    milter_role: ClassVar[MilterRole | None] = None
    #: Config files its distribution package installs, which a first apply may replace.
    distribution_files: ClassVar[frozenset[str]] = frozenset()
    #: Settings listing the clients whose mail it signs rather than verifies (lint XREF006).
    trusted_host_lists: ClassVar[tuple[str, ...]] = ()
    #: The command that makes the service read its new files (None: per file, see render).
    reload: ClassVar[str | None] = None

    def reload_commands(self, commands: Sequence[str]) -> list[str]:
        """What to run after apply, given the reload commands of this target's changed
        files (plan order, each once). By default, a restart of a unit replaces a reload of
        the same unit (``reloads.merge_restarts``); a target whose daemon has one command
        for many files (BIND's ``rndc reload``) collapses them here."""
        return merge_restarts(commands)

    def milter(self, target: SettingsT, ctx: BuildContext) -> Milter | None:
        """The milter this target runs, for the MTA to connect (see ``milter_role``)."""
        return None

    def served_certificate(
        self, target: SettingsT, read: Callable[[str], bytes | None]
    ) -> tuple[str, int, str] | None:
        """The TLS certificate this target serves mail with, as its config on the host
        names it: (config file, line, certificate path); None when it serves none. ``read``
        gives a host file's bytes under --root (None: absent). Only compiler/inputs.py
        calls it, so that DANE's lint compares the TLSA records with what is served."""
        return None

    def check(self, target: SettingsT, ctx: BuildContext) -> Iterable[Problem]:
        """What this target cannot do with the config, positioned; run after the milter
        chain is built, so ``ctx.milters`` is complete."""
        return ()

    def render(self, model: MailModel, target: SettingsT) -> Sequence[Artifact]:
        raise NotImplementedError

    def directories(self, model: MailModel, target: SettingsT) -> Sequence[Directory]:
        """Directories its files name, made by apply (a socket's, a pid file's)."""
        return ()

    def host_steps(self, model: MailModel, target: SettingsT) -> Sequence[GroupMember]:
        """What apply cannot do by writing files (a group membership), checked by plan."""
        return ()

    def checks(self, model: MailModel, target: SettingsT, root: str) -> Sequence[str]:
        """Commands that check its configs as written under ``root`` (``opendkim -n``)."""
        return ()


# -- what a generated file names on the host besides files (issue 12) -------------------------


@dataclass(frozen=True)
class Directory:
    """A directory a generated file names (a socket's, a pid file's, a history file's).

    Its daemon cannot make it (it has dropped root, or makes one level at most), so apply
    does, with the daemon's owner and mode. ``purpose`` says which setting names it, for
    plan and for the refusal when an existing one is unusable. ``path`` is absolute on
    the host, before --root, like an Artifact's.
    """

    path: str
    owner: str | None
    group: str | None
    mode: int
    purpose: str


@dataclass(frozen=True)
class GroupMember:
    """A host step: ``user`` must be in ``group`` (Postfix reaching a milter's UNIX socket).

    Writing files cannot do it safely (``/etc/group`` belongs to the system's tools), so
    plan checks it on ``--root /`` and prints the command otherwise.
    """

    user: str
    group: str
    why: str

    @property
    def command(self) -> str:
        return f"usermod -aG {self.group} {self.user}"


#: Directories the Debian packages (or the base system) provide: never declared, so never
#: created, chowned or removed by mailauth. /run/opendkim and /run/opendmarc come from the
#: packages' /usr/lib/tmpfiles.d files; /var/spool/postfix from postfix.
PROVIDED_DIRS = frozenset(
    {"/", "/run", "/var/run", "/var/lib", "/var/spool/postfix", "/tmp", "/var/tmp", "/etc"}
)
#: Where a directory made by apply is gone after a reboot (a tmpfs): the backend also
#: writes a tmpfiles.d line for it, so that boot makes it again as apply did.
VOLATILE_ROOTS = ("/run/", "/var/run/")
POSTFIX_USER = "postfix"


def user_id(user: str | None, group: str | None) -> str | None:
    """The ``UserID`` value of OpenDKIM and OpenDMARC: ``user`` or ``user:group``; None
    keeps the daemon as root (a group alone means nothing to them)."""
    if user is not None and group is not None:
        return f"{user}:{group}"
    return user


def socket_path(socket: str) -> str | None:
    """The file of a ``local:``/``unix:`` milter socket; None for inet sockets."""
    kind, _, path = socket.partition(":")
    return path if kind in ("local", "unix") else None


def parent_dir(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def milter_files(
    config: str, socket: str, pid_file: str, *more: tuple[str | None, str]
) -> list[tuple[str | None, str]]:
    """What a milter daemon's config names that lives in a directory it does not make:
    its UNIX socket (None for inet), its pid file, and ``more``; each with the setting
    naming it, for daemon_dirs."""
    return [
        (socket_path(socket), f"Socket of {config}"),
        (pid_file, f"PidFile of {config}"),
        *more,
    ]


def daemon_dirs(
    named: Sequence[tuple[str | None, str]],
    owner: str | None,
    group: str | None,
    provided: frozenset[str] = frozenset(),
) -> list[Directory]:
    """The directories holding the files ``named`` (path, the setting naming it), owned by
    the daemon's user (group: its own group, or the user's name), 0750; minus those the
    distribution provides (``PROVIDED_DIRS`` and ``provided``). One entry per directory."""
    found: dict[str, Directory] = {}
    skip = PROVIDED_DIRS | provided
    for path, purpose in named:
        if path is None:
            continue
        directory = parent_dir(path)
        if directory in skip or directory in found:
            continue
        found[directory] = Directory(
            path=directory,
            owner=owner,
            group=group or owner,
            mode=0o750,
            purpose=purpose,
        )
    return list(found.values())


def socket_access(socket: str, dirs: Sequence[Directory], why: str) -> list[GroupMember]:
    """Postfix connects to a UNIX socket in a directory that mailauth makes 0750
    owner:group: the postfix user must be in that group."""
    path = socket_path(socket)
    if path is None:
        return []
    for directory in dirs:
        if directory.path == parent_dir(path) and directory.group not in (None, "root"):
            assert directory.group is not None
            return [GroupMember(POSTFIX_USER, directory.group, why)]
    return []


def tmpfiles_artifact(path: str, dirs: Sequence[Directory]) -> list[Artifact]:
    """A tmpfiles.d(5) file that makes again, at boot, the volatile directories apply made
    (``/run`` is a tmpfs: a directory made there is gone after a reboot)."""
    volatile = [d for d in dirs if d.path.startswith(VOLATILE_ROOTS)]
    if not volatile:
        return []
    lines = ["# Generated by mailauth from mailauth.yaml. Edits here are overwritten on apply."]
    lines += [
        f"d {d.path} {d.mode:04o} {d.owner or 'root'} {d.group or 'root'} - -" for d in volatile
    ]
    return [Artifact(path=path, content=("\n".join(lines) + "\n").encode(), format="conf")]


def rooted(root: str, path: str) -> str:
    """``path`` (on the host) as it is under ``root``: what a printed command must name."""
    return path if root == "/" else root.rstrip("/") + path


def check_with_paths(command: str, config: str, root: str, dirs: Sequence[str]) -> str:
    """``command`` (ending in the config file's name) run on the config under ``root``.

    A config names its tables by host path, so under a staging root a checker given the
    staged config would read the host's tables (or none): the config is then fed on stdin
    with those directories moved under the root by sed. On ``/`` it is the plain command.
    """
    if root == "/":
        return f"{command} {shlex.quote(config)}"
    script = []
    for directory in dirs:
        pattern = re.sub(r"([\\.\[\]*^$|])", r"\\\1", directory.rstrip("/") + "/")
        replacement = re.sub(r"([\\&|])", r"\\\1", rooted(root, directory.rstrip("/") + "/"))
        script += ["-e", shlex.quote(f"s|{pattern}|{replacement}|g")]
    staged = shlex.quote(rooted(root, config))
    return f"sed {' '.join(script)} {staged} | {command} /dev/stdin"

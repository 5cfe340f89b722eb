"""Plan: what each target's files would become, compared with what is under --root.

The plan reads and never writes. Apply recomputes it under a lock and writes exactly it.
"""

from __future__ import annotations

import base64
import binascii
import collections
import dataclasses
import difflib
import functools
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel

from mailauth.backends import REGISTRY, Artifact, EditContext, EditError, MissingHostFile
from mailauth.backends.base import Directory, GroupMember
from mailauth.compiler.fsio import UnsafePath, check_path, read_checked
from mailauth.compiler.hostdirs import DirChange, DirError, HostStep, host_steps, plan_directories
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import (
    ConfigError,
    Field,
    MailauthError,
    Problem,
    TargetBug,
    TargetError,
)
from mailauth.schema.errors import PlanError as PlanError  # re-exported: callers use this name
from mailauth.schema.models import Config

Operation = Literal["create", "update", "delete", "unchanged"]
MANIFEST_NAME = "manifest.json"
#: In state.directory: the reviewed checksum (``apply --checksum``) last applied to this root,
#: so that the same apply run again says "already applied" (compiler/driver.py).
APPLIED_NAME = "applied-checksum"


# PlanError (with its ``field``) and TargetError live in schema/errors.py, with every
# other error mailauth reports; imported here, where most of them are raised.


_PEM_PRIVATE = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-")
_BASE64_TOKEN = re.compile(rb"\s*[A-Za-z0-9+/]{40,90}={0,2}\s*")


def looks_private(data: bytes | None) -> bool:
    """Content that looks like a private key, wherever it is found: a PEM or OpenSSH
    private key, or a bare base64 Ed25519 seed (dkimpy's key file). Never shown."""
    if not data:
        return False
    if _PEM_PRIVATE.search(data):
        return True
    if len(data) <= 100 and _BASE64_TOKEN.fullmatch(data):
        try:
            raw = base64.b64decode(data.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(raw) in (32, 64)
    return False


_SHELL_SPECIAL = frozenset('$`;|<>()\\\n\r"')


def shell_safe(command: str) -> bool:
    """The command runs only what it names when pasted into a shell: outside single quotes
    (shlex.quote's) it has no expansion, redirection, subshell or separator, except
    ``&&`` between two commands. A backend's reload line that fails this holds an
    unquoted value from the config, and is never printed as something to run."""
    quoted = False
    i = 0
    while i < len(command):
        char = command[i]
        if char == "'":
            quoted = not quoted
        elif not quoted:
            if char == "&":
                if command[i : i + 2] != "&&" or command[i + 2 : i + 3] == "&":
                    return False
                i += 2
                continue
            if char in _SHELL_SPECIAL or not char.isprintable():
                return False
        i += 1
    return not quoted


def distribution_files(target: str) -> frozenset[str]:
    """Existing files ``target`` may replace on a first run (no manifest entry yet): the
    config its Debian package installs, which an admin expects mailauth to take over
    (``Backend.distribution_files``). Any other existing file mailauth did not write is
    refused. ``target`` may also be "keys" or "state", which take over nothing."""
    backend = REGISTRY.get(target)
    return backend.distribution_files if backend is not None else frozenset()


def _carried_over(old: bytes | None, new: bytes | None) -> bytes:
    """The lines of a file mailauth did not write that the new file holds as they are (a
    distribution's options it keeps): shown as the diff's context, since the new file
    shows them anyway. No other line of the old file reaches the plan."""
    if not old or not new:
        return b""
    kept = {line for line in new.splitlines(keepends=True) if line.strip()}
    return b"".join(line for line in old.splitlines(keepends=True) if line in kept)


@dataclass(frozen=True, init=False)
class FileChange:
    """One file's fate: the Artifact planned for it, and the bytes before and after.

    ``old``/``new`` are bytes; None means absent. What the artifact says of the file (its
    path, reload command, owner, secret and write-once flags, zone and format...) is read
    through it. ``mode`` is the mode it is written with (a replaced file keeps its own),
    ``ids`` the uid and gid carried over from the file replaced.

    A change that no backend planned (a stale file's deletion) is made from its path, and
    any Artifact fields as keywords: ``FileChange(path, "delete", old, None)``.
    """

    artifact: Artifact
    op: Operation
    old: bytes | None
    new: bytes | None
    mode: int
    ids: tuple[int, int] | None  # uid, gid carried over from the file replaced
    # The old content is a file mailauth did not write (a distribution's config it takes
    # over): it is replaced, kept in the backup, and never shown, only fingerprinted.
    foreign: bool
    # The target that planned it (None: mailauth's own state, a stale file's deletion):
    # its backend merges the reload commands of its files (Backend.reload_commands).
    target: str | None

    def __init__(
        self,
        path: str | None = None,
        op: Operation = "unchanged",
        old: bytes | None = None,
        new: bytes | None = None,
        mode: int | None = None,
        *,
        artifact: Artifact | None = None,
        ids: tuple[int, int] | None = None,
        foreign: bool = False,
        target: str | None = None,
        **fields: Any,  # Artifact fields, for a change made without one (and for replace())
    ) -> None:
        if artifact is None:
            if path is None:
                raise TypeError("a FileChange needs a path or an artifact")
            artifact = Artifact(path=path, **fields)
        elif path is not None or fields:
            artifact = dataclasses.replace(artifact, **fields, path=path or artifact.path)
        object.__setattr__(self, "artifact", artifact)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "old", old)
        object.__setattr__(self, "new", new)
        object.__setattr__(self, "mode", artifact.mode if mode is None else mode)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "foreign", foreign)
        object.__setattr__(self, "target", target)

    @property
    def path(self) -> str:
        return self.artifact.path

    @property
    def secret(self) -> bool:
        return self.artifact.secret

    @property
    def reload(self) -> str | None:
        """The command that makes the service read this change: the artifact's, or the
        one its ``reload_choice`` picks from the old and new content."""
        choose = self.artifact.reload_choice
        if choose is not None and self.new is not None:
            return choose(self.old, self.new)
        return self.artifact.reload

    @property
    def owner(self) -> str | None:
        return self.artifact.owner

    @property
    def group(self) -> str | None:
        return self.artifact.group

    @property
    def rooted(self) -> bool:
        return self.artifact.rooted

    @property
    def create_only(self) -> bool:
        return self.artifact.create_only

    @property
    def dir_mode(self) -> int:
        return self.artifact.dir_mode

    @property
    def placeholder(self) -> str | None:
        return self.artifact.placeholder

    @property
    def after(self) -> tuple[str, ...]:
        return self.artifact.after

    @property
    def key_store(self) -> str | None:
        return self.artifact.key_store

    @property
    def confidential(self) -> bool:
        """Shown only as a fingerprint: a secret, or content that looks like a key."""
        return self.secret or looks_private(self.old) or looks_private(self.new)

    def location(self, root: Path) -> Path:
        """Where the file really is: under ``root``, or as named for unrooted files."""
        return host_path(root, self.path) if self.rooted else Path(self.path)

    def fingerprint(self, data: bytes | None) -> str:
        if data is None:
            return "(absent)"
        return "sha256:" + hashlib.sha256(data).hexdigest()[:16]

    def diff(self) -> str:
        """A unified diff, or for secrets only the fingerprints: keys never reach a screen."""
        return self._diff

    @functools.cached_property
    def _diff(self) -> str:  # reports ask for it more than once (the diff, its line counts)
        if self.op == "unchanged":
            return ""
        if self.placeholder is not None:
            return f"({self.placeholder})\n"
        if self.confidential:
            return (
                f"(secret file, content not shown: {self.fingerprint(self.old)} -> "
                f"{self.fingerprint(self.new)})\n"
            )
        head = ""
        shown_old = self.old
        if self.foreign:
            head = (
                f"(replaces a file mailauth did not write, kept in the backup; of its content "
                f"only the lines the new file keeps are shown: {self.fingerprint(self.old)})\n"
            )
            shown_old = _carried_over(self.old, self.new)
        old = (shown_old or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = (self.new or b"").decode("utf-8", "replace").splitlines(keepends=True)
        fromfile = "/dev/null" if not shown_old else f"a{self.path}"
        tofile = "/dev/null" if self.new is None else f"b{self.path}"
        lines = difflib.unified_diff(old, new, fromfile, tofile)
        return head + "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass
class Plan:
    root: Path
    changes: list[FileChange]
    notes: list[str] = field(default_factory=list)
    # Files besides ``changes`` the plan was computed from, as read (None: absent).
    inputs: dict[Path, bytes | None] = field(default_factory=dict)
    # Directories the generated files name, and the host steps still to do (hostdirs.py).
    directories: list[DirChange] = field(default_factory=list)
    host_steps: list[HostStep] = field(default_factory=list)
    # Commands that check the generated configs where they are (under this root).
    checks: list[str] = field(default_factory=list)
    # Files an edit looked for and left absent (not in ``changes``): apply re-plans if one
    # appears meanwhile.
    absent: list[Path] = field(default_factory=list)
    # apply --checksum run again: the reviewed checksum that this root already has applied
    # (the plan is then empty and nothing was written).
    already_applied: str | None = None

    @property
    def pending(self) -> list[FileChange]:
        return [c for c in self.changes if c.op != "unchanged"]

    @property
    def pending_dirs(self) -> list[DirChange]:
        return [d for d in self.directories if d.op != "unchanged"]

    @property
    def has_work(self) -> bool:
        """Apply has something to write. Host steps do not count: apply cannot do them."""
        return bool(self.pending or self.pending_dirs)

    def count(self, op: Operation) -> int:
        return sum(1 for c in self.changes if c.op == op)

    @property
    def reloads(self) -> list[str]:
        """Commands to run after apply, once each, in the order the files were planned.

        Only those that run nothing but what they name (``shell_safe``); see ``withheld``.
        """
        return [r for r in self._all_reloads if shell_safe(r)]

    @property
    def withheld(self) -> int:
        """How many reload commands are not shown: they hold unquoted shell syntax."""
        return sum(1 for r in self._all_reloads if not shell_safe(r))

    @property
    def _all_reloads(self) -> list[str]:
        """Each target's commands as its backend merges them (one ``rndc reload`` for many
        zones, a restart in place of a reload), targets in the order they were planned."""
        per_target: dict[str | None, list[str]] = {}
        for change in self.pending:
            command = change.reload
            if command:
                per_target.setdefault(change.target, []).append(command)
        found: list[str] = []
        for target, commands in per_target.items():
            unique = list(dict.fromkeys(commands))
            backend = REGISTRY.get(target) if target is not None else None
            found += backend.reload_commands(unique) if backend is not None else unique
        return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=1 << 17)
def host_path(root: Path, path: str) -> Path:
    """``path`` (absolute on the host) placed under ``root``; refuses to climb out of it.

    Cached: plan, the apply lock check and the writes ask for each file's place.
    """
    pure = PurePosixPath(path)
    if not pure.is_absolute():
        raise PlanError(f"{path}: target paths must be absolute")
    if ".." in pure.parts:
        raise PlanError(f"{path}: '..' is not allowed in a target path")
    if "\0" in path or len(pure.parts) < 2:
        raise PlanError(f"{path!r}: not a file path")
    return root.joinpath(*pure.parts[1:])


def read_under(
    base: Path, where: Path, *, label: str = "", field: Field | None = None
) -> tuple[bytes, os.stat_result] | None:
    """``where`` read as fsio.read_checked reads (no symlink below ``base``, a regular file
    only, a size cap); None if absent. Every refusal is a PlanError."""
    try:
        return read_checked(base, where, what=label)
    except UnsafePath as exc:
        raise PlanError(str(exc), field) from None
    except OSError as exc:
        raise PlanError(f"{label or where}: cannot read ({exc.strerror or exc})", field) from None


def _read(root: Path, path: str, field: Field | None = None) -> tuple[bytes, os.stat_result] | None:
    return read_under(root, host_path(root, path), label=path, field=field)


def _read_unrooted(path: str) -> tuple[bytes, os.stat_result] | None:
    """A file beside mailauth.yaml (the lock): its directory was checked by keys.lock_path."""
    where = Path(path)
    return read_under(where.parent, where, label=path, field=("lock_file",))


def _ordered(artifacts: Sequence[Artifact]) -> list[Artifact]:
    """Artifacts whose edit watches others come after those others."""
    by_path = {a.path: a for a in artifacts}
    done: list[Artifact] = []
    seen: set[str] = set()

    def visit(artifact: Artifact, stack: tuple[str, ...]) -> None:
        if artifact.path in seen:
            return
        if artifact.path in stack:
            raise PlanError(f"{artifact.path}: artifacts wait on each other in a cycle")
        for dep in artifact.after:
            if dep in by_path:
                visit(by_path[dep], (*stack, artifact.path))
        seen.add(artifact.path)
        done.append(artifact)

    for artifact in artifacts:
        visit(artifact, ())
    return done


def selected_targets(config: Config, wanted: Iterable[str] | None) -> list[str]:
    """The targets set in the config, narrowed to ``wanted`` when given."""
    configured = [name for name, _, _ in config.targets.configured()]
    if wanted is None:
        return configured
    wanted = list(wanted)
    unknown = [w for w in wanted if w not in REGISTRY]
    if unknown:
        raise ConfigError(
            [
                Problem(
                    "--target",
                    name,
                    f"unknown target; known targets: {', '.join(sorted(REGISTRY))}",
                )
                for name in unknown
            ]
        )
    missing = [w for w in wanted if w not in configured]
    if missing:
        raise ConfigError(
            [Problem("--target", name, "not set under `targets:` in the file") for name in missing]
        )
    return [name for name in configured if name in wanted]


def render_all(
    model: MailModel, config: Config, targets: Sequence[str]
) -> list[tuple[str, Artifact]]:
    """Every artifact of the selected targets, with its target; one path, one target."""
    artifacts: list[tuple[str, Artifact]] = []
    claimed: dict[str, str] = {}
    for name in targets:
        try:
            rendered = REGISTRY[name].render(model, _settings(config, name))
        except ValueError as exc:
            raise TargetError(f"targets.{name}: {exc}", ("targets", name)) from None
        except MailauthError:
            raise
        except Exception as exc:  # not the user's doing: a renderer has a bug
            raise TargetBug(name, "render", exc) from exc
        for artifact in rendered:
            if artifact.path in claimed:
                raise PlanError(
                    f"{artifact.path}: written by both {claimed[artifact.path]} and {name}",
                    ("targets", name),
                )
            claimed[artifact.path] = name
            artifacts.append((name, artifact))
    return artifacts


@dataclass
class _Manifest:
    """The manifest as the last apply left it: owned files and edit state, per target."""

    path: str
    owned: dict[str, list[str]] = field(default_factory=dict)
    state: dict[str, dict[str, object]] = field(default_factory=dict)
    directories: dict[str, list[str]] = field(default_factory=dict)  # those mailauth made


def _read_manifest(root: Path, path: str) -> _Manifest:
    """Which files mailauth owns under this root, per target (how it knows what to
    delete), and the state edits recorded per file (``EditContext.state``)."""
    read = _read(root, path, ("state", "directory"))
    found = _Manifest(path)
    if read is None:
        return found
    try:
        loaded = json.loads(read[0])
        if not isinstance(loaded, dict) or loaded.get("version") != 1:
            raise ValueError("not a manifest")
        found.owned = {
            str(k): [p for p in v if isinstance(p, str)]
            for k, v in loaded.get("targets", {}).items()
        }
        state = loaded.get("state", {})
        if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
            raise ValueError("bad state")
        found.state = {str(k): {str(p): r for p, r in v.items()} for k, v in state.items()}
        found.directories = _recorded_dirs(loaded)
    except (ValueError, AttributeError, TypeError):
        raise PlanError(f"{path}: not a mailauth manifest", ("state", "directory")) from None
    return found


def _manifest_artifact(
    previous: _Manifest,
    owned: dict[str, list[str]],
    state: dict[str, dict[str, object]],
    directories: dict[str, list[str]],
) -> Artifact:
    """The new manifest. Targets left out of this run (``--target``) keep their entries
    untouched; ``state`` appears only when some edit records one, ``directories`` only
    when mailauth made some (see _directories)."""
    merged = dict(previous.owned)
    merged.update({name: sorted(paths) for name, paths in owned.items()})
    states = {k: v for k, v in previous.state.items() if k not in owned and k not in state}
    states.update({k: dict(sorted(v.items())) for k, v in state.items() if v})
    data: dict[str, object] = {"version": 1, "targets": dict(sorted(merged.items()))}
    if states:
        data["state"] = dict(sorted(states.items()))
    kept = {name: sorted(paths) for name, paths in directories.items() if paths}
    if kept:
        data["directories"] = dict(sorted(kept.items()))
    body = json.dumps(data, indent=2) + "\n"
    return Artifact(path=previous.path, content=body.encode(), mode=0o644)


def _recorded_dirs(loaded: dict[str, object]) -> dict[str, list[str]]:
    """The manifest's ``directories``: those mailauth made, per target."""
    found = loaded.get("directories", {})
    if not isinstance(found, dict):
        raise PlanError("manifest: 'directories' is not a mapping", ("state", "directory"))
    return {str(k): [p for p in v if isinstance(p, str)] for k, v in found.items()}


def _field(name: str) -> Field:
    """Where in mailauth.yaml the files of ``name`` (a target, or the key store) are set."""
    if name == "keys":
        return ("keys",)
    if name in REGISTRY:
        return ("targets", name)
    return (name,)


def _label(name: str) -> str:
    return "the DKIM key store (keys:)" if name == "keys" else f"targets.{name}"


def check_claims(
    root: Path,
    config: Config,
    pairs: Sequence[tuple[str, Artifact]],
    key_files: Iterable[str] = (),
) -> None:
    """Every place on disk is claimed once: a target's file, a private key, mailauth's
    own state (manifest, apply lock) and backup directory. A path claimed twice would
    have one writer silently lose (a key dropped while the lock publishes it), and a file
    where another claim needs a directory would fail half way through apply. Pure: reads
    nothing from disk, so validate runs it too."""
    state = config.state.directory.rstrip("/")
    own: list[tuple[str, str, Field]] = [
        (f"{state}/{MANIFEST_NAME}", "state.directory (mailauth's manifest)", ("state",)),
        (f"{state}/apply.lock", "state.directory (mailauth's apply lock)", ("state",)),
        (f"{state}/{APPLIED_NAME}", "state.directory (the checksum last applied)", ("state",)),
    ]
    # Plain strings, not PurePosixPath: at thousands of domains the objects cost more
    # than the check itself.
    claims: dict[str, tuple[str, Field]] = {}
    entries: list[tuple[str, str, Field]] = []
    for name, artifact in pairs:
        if artifact.rooted:
            try:
                host_path(root, artifact.path)  # refuses relative paths and '..'
            except PlanError as exc:
                raise PlanError(f"{_label(name)}: {exc}", _field(name)) from None
            entries.append((_norm(artifact.path), _label(name), _field(name)))
    for text, label, spot in own:
        host_path(root, text)
        entries.append((_norm(text), label, spot))
    # Keys that exist already make no artifact, but their place is claimed all the same:
    # a target writing there would replace a key the lock still publishes.
    made = {place for place, label, _ in entries if label == _label("keys")}
    for text in key_files:
        if text.startswith("/") and _norm(text) not in made:
            made.add(_norm(text))
            entries.append((_norm(text), _label("keys"), _field("keys")))
    for place, label, spot in entries:
        if place in claims and claims[place][0] != label:
            raise PlanError(f"{place}: claimed by both {claims[place][0]} and {label}", spot)
        if place in claims:
            raise PlanError(f"{place}: written twice by {label}", spot)
        claims[place] = (label, spot)
    backups = _norm(config.state.backups)
    below_backups = set(_parents(backups))
    for path, (label, spot) in claims.items():
        if path == backups or path.startswith(backups + "/"):
            raise PlanError(f"{path}: claimed by {label}, inside state.backups ({backups})", spot)
        if path in below_backups:
            raise PlanError(
                f"{path}: claimed by {label} as a file, but state.backups ({backups}) is a "
                "directory below it",
                spot,
            )
        for parent in _parents(path):
            if parent in claims:
                raise PlanError(
                    f"{parent}: claimed by {claims[parent][0]} as a file, but {label} "
                    f"puts {path} inside it",
                    spot,
                )


def _norm(path: str) -> str:
    """An absolute host path with empty and '.' components dropped (as PurePosixPath)."""
    return "/" + "/".join(part for part in path.split("/") if part and part != ".")


def _parents(path: str) -> list[str]:
    """The directories above a normalised path, nearest first, ``/`` last."""
    found: list[str] = []
    cut = path.rfind("/")
    while cut > 0:
        path = path[:cut]
        found.append(path)
        cut = path.rfind("/")
    found.append("/")
    return found


def model_key_files(model: MailModel) -> list[str]:
    """Where every private key of the model lives on the host, made or still to make."""
    return [k.key_file for d in model.domains for k in d.keys if k.key_file]


def compute_plan(
    model: MailModel,
    config: Config,
    root: Path,
    targets: Sequence[str],
    today: date,
    extra: Sequence[tuple[str, Artifact]] = (),
) -> Plan:
    """Compare every artifact with the disk under ``root``.

    Reads only regular files reached without a symlink under the root (fsio.check_path),
    and shows the old content of a file only when mailauth wrote it (the manifest says
    so), edits it by design (``owned=False``: main.cf, a hand-kept zone), or it is the
    target's own distribution config (``distribution_files``). Any other existing file at a
    target path is refused unread into the plan: it could be anything, a private key too.
    """
    pairs = [*render_all(model, config, targets), *extra]
    check_claims(root, config, pairs, model_key_files(model))
    owned: dict[str, list[str]] = {name: [] for name in targets}
    target_of: dict[str, str] = {}
    for name, artifact in pairs:
        target_of[artifact.path] = name
        if artifact.owned:
            owned.setdefault(name, []).append(artifact.path)
    manifest_path = config.state.directory.rstrip("/") + "/" + MANIFEST_NAME
    recorded = _read_manifest(root, manifest_path)
    previous = recorded.owned
    planned_dirs = _directories(root, model, config, targets, pairs, recorded.directories)
    dirs_now = {n: list(p) for n, p in recorded.directories.items() if n not in targets}
    for dir_change in planned_dirs:
        if dir_change.ours:
            dirs_now.setdefault(dir_change.target, []).append(dir_change.path)
    written = {p for paths in previous.values() for p in paths}
    changes: list[FileChange] = []
    changed: set[str] = set()
    notes: list[str] = []
    absent: list[Path] = []
    state: dict[str, dict[str, object]] = {name: {} for name in owned}
    as_root = os.geteuid() == 0
    ordered = collections.deque(_ordered([a for _, a in pairs]))
    manifest: Artifact | None = None
    # The manifest comes last: it records the state the edits before it returned.
    while ordered or manifest is None:
        if ordered:
            artifact = ordered.popleft()
        else:
            manifest = artifact = _manifest_artifact(recorded, owned, state, dirs_now)
        name = target_of.get(artifact.path, "state")
        spot = _field(name)
        if artifact.rooted:
            read = _read(root, artifact.path, spot)
        else:
            read = _read_unrooted(artifact.path)
        current, st = (None, None) if read is None else read
        try:
            # An edit looks only at the files it names in ``after`` (planned before it); a
            # snapshot of every change so far, per file, would cost quadratic time.
            seen = frozenset(p for p in artifact.after if p in changed)
            before = recorded.state.get(name, {}).get(artifact.path)
            ctx = EditContext(today=today, changed=seen, state=before, root=str(root))
            edited = artifact.render_edited(current, ctx)
        except MissingHostFile as exc:
            raise TargetError(_missing(root, exc), exc.field or spot) from None
        except EditError as exc:
            raise TargetError(str(exc), exc.field or spot) from None
        except MailauthError:
            raise
        except Exception as exc:  # not the user's doing: an edit has a bug
            raise TargetBug(name, "edit", exc) from exc
        new = edited.content
        notes.extend(edited.notes)
        if edited.state is not None and artifact is not manifest:
            state.setdefault(name, {})[artifact.path] = edited.state
        if current is None and new is None:
            absent.append(host_path(root, artifact.path))  # absent, nothing to write there
            continue
        op: Operation
        if new is None:
            raise PlanError(f"{artifact.path}: an edit may leave only an absent file absent", spot)
        elif current is None:
            op = "create"
        elif artifact.create_only:
            op = "unchanged"  # a key that exists is never replaced
        elif current != new:
            op = "update"
        else:
            op = "unchanged"
        foreign = (
            op == "update"
            and artifact.owned
            and artifact.rooted
            and artifact is not manifest
            and artifact.path not in written
        )
        if foreign and (artifact.path not in distribution_files(name) or looks_private(current)):
            raise PlanError(
                f"{artifact.path} exists and was not written by mailauth: move it away "
                "(mailauth then creates it), or point the target at another path",
                spot,
            )
        if op == "update" and not artifact.create_only and looks_private(current):
            raise PlanError(
                f"{artifact.path} holds what looks like a private key: mailauth never "
                "replaces one with another file; point the target at another path",
                spot,
            )
        mode, ids = artifact.mode, None
        if st is not None and not artifact.create_only:
            if not (artifact.mode_fixed or artifact.secret):
                mode = stat.S_IMODE(st.st_mode) & 0o777  # replaced files keep their mode
            if as_root:
                ids = (st.st_uid, st.st_gid)  # and their owner, unless the artifact names one
        if op != "unchanged":
            changed.add(artifact.path)
        changes.append(
            FileChange(
                artifact=artifact,
                op=op,
                old=current,
                new=new,
                mode=mode,
                ids=ids,
                foreign=foreign,
                target=name if name in REGISTRY else None,
            )
        )
    still_owned = {p for paths in owned.values() for p in paths}
    stale = {p for name in owned for p in previous.get(name, [])} - still_owned
    for path in sorted(stale):
        read = _read(root, path, ("state", "directory"))
        if read is not None:
            changes.append(FileChange(path, "delete", read[0], None))
    if any(c.old is not None and c.rooted and c.op in ("update", "delete") for c in changes):
        _check_backups(root, config.state.backups)
    notes += [d.note for d in planned_dirs if d.note]
    return Plan(
        root=root,
        changes=changes,
        notes=[*model.notes, *dict.fromkeys(notes)],
        absent=absent,
        directories=planned_dirs,
        host_steps=host_steps(root, _host_steps(model, config, targets)),
        checks=_checks(model, config, targets, root),
    )


def _settings(config: Config, name: str) -> BaseModel:
    """The settings of a selected target (selected_targets keeps only those set)."""
    settings = config.targets.settings(name)
    if settings is None:
        raise PlanError(f"targets.{name}: not set under `targets:` in the file", ("targets",))
    return settings


def _checks(model: MailModel, config: Config, targets: Sequence[str], root: Path) -> list[str]:
    """Each target's check commands for the configs as they are under ``root``; only
    those that run nothing but what they name (shell_safe)."""
    found: list[str] = []
    for name in targets:
        found += REGISTRY[name].checks(model, _settings(config, name), str(root))
    return [c for c in found if shell_safe(c.replace(" | ", " && "))]


def _host_steps(
    model: MailModel, config: Config, targets: Sequence[str]
) -> list[tuple[str, GroupMember]]:
    """The host steps the targets' backends declare, with the target of each."""
    found: list[tuple[str, GroupMember]] = []
    for name in targets:
        backend = REGISTRY[name]
        found += [(name, step) for step in backend.host_steps(model, _settings(config, name))]
    return found


def _directories(
    root: Path,
    model: MailModel,
    config: Config,
    targets: Sequence[str],
    pairs: Sequence[tuple[str, Artifact]],
    recorded: dict[str, list[str]],
) -> list[DirChange]:
    """The directories the targets' files name, planned (compiler/hostdirs.py); one
    that is also a file's path is refused, as two claims of one place are."""
    wanted: list[tuple[str, Directory]] = []
    for name in targets:
        wanted += [(name, d) for d in REGISTRY[name].directories(model, _settings(config, name))]
    files = {a.path: name for name, a in pairs if a.rooted}
    for name, want in wanted:
        host_path(root, want.path)
        if want.path in files:
            raise PlanError(
                f"{want.path}: a file of {_label(files[want.path])}, and the directory of "
                f"{want.purpose}",
                _field(name),
            )
    try:
        return plan_directories(root, wanted, recorded, targets)
    except DirError as exc:
        raise PlanError(exc.message, _field(exc.target)) from None


def _check_backups(root: Path, backups: str) -> None:
    """Apply keeps what it replaces under state.backups: that place must stay under the
    root too, so plan refuses a symlink on the way there as it refuses one on a target's."""
    try:
        check_path(root, host_path(root, backups.rstrip("/") + "/x"), what=backups)
    except UnsafePath as exc:
        raise PlanError(str(exc), ("state", "backups")) from None


def _missing(root: Path, exc: MissingHostFile) -> str:
    """The message for a missing hand-kept file: where under the root, what to copy there."""
    hint = f", {exc.hint}" if exc.hint else ""
    if root == Path("/"):
        return (
            f"{exc.path} does not exist on this host: mailauth edits it and never invents it{hint}"
        )
    return (
        f"{host_path(root, exc.path)} does not exist: copy the host's {exc.path} there{hint}; "
        "mailauth edits this file and never invents it"
    )

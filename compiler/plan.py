"""Plan: what each target's files would become, compared with what is under --root.

The plan reads and never writes. Apply recomputes it under a lock and writes exactly it.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Literal

from mailauth.backends import REGISTRY, Artifact, EditContext, EditError
from mailauth.compiler.model import MailModel
from mailauth.schema.errors import ConfigError, Problem
from mailauth.schema.models import Config

Operation = Literal["create", "update", "delete", "unchanged"]
MANIFEST_NAME = "manifest.json"


class PlanError(Exception):
    """The plan cannot be made (a path escapes --root, a file to edit is missing...)."""


@dataclass(frozen=True)
class FileChange:
    """One file's fate. ``old``/``new`` are bytes; None means absent."""

    path: str
    op: Operation
    old: bytes | None
    new: bytes | None
    mode: int = 0o644
    secret: bool = False
    reload: str | None = None
    owner: str | None = None
    group: str | None = None
    rooted: bool = True
    create_only: bool = False
    dir_mode: int = 0o755
    placeholder: str | None = None
    after: tuple[str, ...] = ()

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
        if self.secret:
            return (
                f"(secret file, content not shown: {self.fingerprint(self.old)} -> "
                f"{self.fingerprint(self.new)})\n"
            )
        old = (self.old or b"").decode("utf-8", "replace").splitlines(keepends=True)
        new = (self.new or b"").decode("utf-8", "replace").splitlines(keepends=True)
        fromfile = "/dev/null" if self.old is None else f"a{self.path}"
        tofile = "/dev/null" if self.new is None else f"b{self.path}"
        lines = difflib.unified_diff(old, new, fromfile, tofile)
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass
class Plan:
    root: Path
    changes: list[FileChange]
    notes: list[str] = field(default_factory=list)
    # Files besides ``changes`` the plan was computed from, as read (None: absent).
    inputs: dict[Path, bytes | None] = field(default_factory=dict)

    @property
    def pending(self) -> list[FileChange]:
        return [c for c in self.changes if c.op != "unchanged"]

    def count(self, op: Operation) -> int:
        return sum(1 for c in self.changes if c.op == op)

    @property
    def reloads(self) -> list[str]:
        """Commands to run after apply, once each, in the order the files were planned."""
        return list(dict.fromkeys(c.reload for c in self.pending if c.reload))


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
    return root.joinpath(*pure.parts[1:])


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise PlanError(f"{path}: is a directory, expected a file") from None


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
    configured = [name for name in REGISTRY if getattr(config.targets, name, None) is not None]
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
            rendered = REGISTRY[name].render(model, getattr(config.targets, name))
        except ValueError as exc:
            raise PlanError(f"targets.{name}: {exc}") from None
        for artifact in rendered:
            if artifact.path in claimed:
                raise PlanError(
                    f"{artifact.path}: written by both {claimed[artifact.path]} and {name}"
                )
            claimed[artifact.path] = name
            artifacts.append((name, artifact))
    return artifacts


def _manifest(
    root: Path, path: str, owned: dict[str, list[str]]
) -> tuple[dict[str, list[str]], Artifact]:
    """Which files mailauth owns under this root, per target: how it knows what to delete.

    Targets left out of this run (``--target``) keep their entries untouched.
    """
    current = _read(host_path(root, path))
    previous: dict[str, list[str]] = {}
    if current is not None:
        try:
            loaded = json.loads(current)
            previous = {
                str(k): [p for p in v if isinstance(p, str)]
                for k, v in loaded.get("targets", {}).items()
            }
        except (ValueError, AttributeError, TypeError):
            raise PlanError(f"{host_path(root, path)}: not a mailauth manifest") from None
    merged = dict(previous)
    merged.update({name: sorted(paths) for name, paths in owned.items()})
    body = json.dumps({"version": 1, "targets": dict(sorted(merged.items()))}, indent=2) + "\n"
    return previous, Artifact(path=path, content=body.encode(), mode=0o644)


def compute_plan(
    model: MailModel,
    config: Config,
    root: Path,
    targets: Sequence[str],
    today: date,
    extra: Sequence[tuple[str, Artifact]] = (),
) -> Plan:
    """Compare every artifact with the disk under ``root``."""
    pairs = [*render_all(model, config, targets), *extra]
    owned: dict[str, list[str]] = {name: [] for name in targets}
    for name, artifact in pairs:
        if artifact.owned:
            owned.setdefault(name, []).append(artifact.path)
    manifest_path = config.state.directory.rstrip("/") + "/" + MANIFEST_NAME
    previous, manifest = _manifest(root, manifest_path, owned)
    changes: list[FileChange] = []
    changed: set[str] = set()
    for artifact in _ordered([a for _, a in pairs] + [manifest]):
        where = host_path(root, artifact.path) if artifact.rooted else Path(artifact.path)
        current = _read(where)
        try:
            # An edit looks only at the files it names in ``after`` (planned before it); a
            # snapshot of every change so far, per file, would cost quadratic time.
            seen = frozenset(p for p in artifact.after if p in changed)
            new = artifact.render(current, EditContext(today=today, changed=seen))
        except EditError as exc:
            raise PlanError(str(exc)) from None
        if current is None:
            op: Operation = "create"
        elif artifact.create_only:
            op = "unchanged"  # a key that exists is never replaced
        elif current != new:
            op = "update"
        else:
            op = "unchanged"
        if op != "unchanged":
            changed.add(artifact.path)
        changes.append(
            FileChange(
                path=artifact.path,
                op=op,
                old=current,
                new=new,
                mode=artifact.mode,
                secret=artifact.secret,
                reload=artifact.reload,
                owner=artifact.owner,
                group=artifact.group,
                rooted=artifact.rooted,
                create_only=artifact.create_only,
                dir_mode=artifact.dir_mode,
                placeholder=artifact.placeholder,
                after=artifact.after,
            )
        )
    still_owned = {p for paths in owned.values() for p in paths}
    stale = {p for name in owned for p in previous.get(name, [])} - still_owned
    for path in sorted(stale):
        current = _read(host_path(root, path))
        if current is not None:
            changes.append(FileChange(path=path, op="delete", old=current, new=None))
    return Plan(root=root, changes=changes, notes=list(model.notes))

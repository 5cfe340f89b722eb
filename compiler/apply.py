"""Apply: write a plan's files atomically, keeping a backup of everything replaced."""

from __future__ import annotations

import grp
import pwd
from datetime import datetime
from pathlib import Path, PurePosixPath

from mailauth.compiler.dkimkeys import write_private_key
from mailauth.compiler.fsio import remove, remove_stale_temps, write_atomic
from mailauth.compiler.plan import MANIFEST_NAME, FileChange, Plan, host_path

LOCK_NAME = "apply.lock"


def backup_path(root: Path, backups: str, stamp: str, path: str) -> Path:
    return host_path(root, f"{backups.rstrip('/')}/{stamp}{path}")


def _write(root: Path, change: FileChange, backups: str, stamp: str) -> None:
    target = change.location(root)
    if change.create_only:
        _create_once(target, change)
        return
    if change.old is not None and change.rooted:
        # Backups may hold secrets (a replaced config with a password): owner-only.
        saved = backup_path(root, backups, stamp, change.path)
        write_atomic(saved, change.old, 0o600, dir_mode=0o700)
    if change.op == "delete":
        remove(target)
        return
    assert change.new is not None
    write_atomic(
        target,
        change.new,
        change.mode,
        owner=change.owner,
        group=change.group,
        dir_mode=change.dir_mode,
    )


def _create_once(target: Path, change: FileChange) -> None:
    """Private keys: written once, 0600, never over an existing file."""
    assert change.new is not None and change.placeholder is None
    uid = pwd.getpwnam(change.owner).pw_uid if change.owner else None
    gid = grp.getgrnam(change.group).gr_gid if change.group else None
    write_private_key(target, change.new, uid=uid, gid=gid, dir_mode=change.dir_mode)


def write_order(pending: list[FileChange]) -> list[FileChange]:
    """The order to write in, so that an apply killed at any point is finished by the next.

    The manifest is how a later plan knows which files mailauth owns and must delete. If
    it were written before the deletions, a kill in between would drop a file from it
    while the file stays on disk, and no later apply would ever delete it. So deletions
    come just before the manifest. An edit that reacts to other files changing (a
    hand-kept zone's serial bump) is written before them: killed in between, the next run
    still sees them change and bumps again, whereas the other way round the bump would be
    lost for good. Everything else keeps the plan's order.
    """
    deletes = [c for c in pending if c.op == "delete"]
    watchers = [c for c in pending if c.op != "delete" and c.after]
    rest = watchers + [c for c in pending if c.op != "delete" and not c.after]
    manifests = [
        i for i, c in enumerate(rest) if c.rooted and PurePosixPath(c.path).name == MANIFEST_NAME
    ]
    at = manifests[-1] if manifests else len(rest)
    return [*rest[:at], *deletes, *rest[at:]]


def write_plan(plan: Plan, now: datetime, backups: str) -> list[FileChange]:
    """Write every pending change; returns what was written, in order."""
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    # An apply killed mid-write leaves ".NAME.mailauth-tmp-PID" beside a target. Those of
    # files written now go in write_atomic; sweep the unchanged files' ones here too.
    for change in plan.changes:
        if change.op == "unchanged":
            remove_stale_temps(change.location(plan.root))
    written: list[FileChange] = []
    for change in write_order(plan.pending):
        _write(plan.root, change, backups, stamp)
        written.append(change)
    return written

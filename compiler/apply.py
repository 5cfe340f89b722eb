"""Apply: write a plan's files atomically, keeping a backup of everything replaced."""

from __future__ import annotations

import grp
import pwd
from datetime import datetime
from pathlib import Path

from mailauth.compiler.dkimkeys import write_private_key
from mailauth.compiler.fsio import remove, write_atomic
from mailauth.compiler.plan import FileChange, Plan, host_path

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


def write_plan(plan: Plan, now: datetime, backups: str) -> list[FileChange]:
    """Write every pending change; returns what was written, in order."""
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    written: list[FileChange] = []
    for change in plan.pending:
        _write(plan.root, change, backups, stamp)
        written.append(change)
    return written

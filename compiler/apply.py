"""Apply: write a plan's files atomically, keeping a backup of everything replaced."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mailauth.compiler.fsio import remove, write_atomic
from mailauth.compiler.plan import FileChange, Plan, host_path

BACKUP_DIR = "/var/backups/mailauth"
LOCK_FILE = "/var/lib/mailauth/apply.lock"


def backup_path(root: Path, stamp: str, path: str) -> Path:
    return host_path(root, f"{BACKUP_DIR}/{stamp}{path}")


def _write(root: Path, change: FileChange, stamp: str) -> None:
    target = host_path(root, change.path)
    if change.old is not None:
        # Backups may hold secrets (a replaced config with a password): owner-only.
        write_atomic(backup_path(root, stamp, change.path), change.old, 0o600, dir_mode=0o700)
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
        dir_mode=0o700 if change.secret else 0o755,
    )


def write_plan(plan: Plan, now: datetime) -> list[FileChange]:
    """Write every pending change; returns what was written, in order."""
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    written: list[FileChange] = []
    for change in plan.pending:
        _write(plan.root, change, stamp)
        written.append(change)
    return written

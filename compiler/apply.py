"""Apply: write a plan's files atomically, keeping a backup of everything replaced."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import secrets
from datetime import datetime
from pathlib import Path, PurePosixPath

from mailauth.compiler.dkimkeys import link_into_place, make_key_dirs, write_private_key
from mailauth.compiler.fsio import (
    BATCH_MIN,
    Batch,
    check_path,
    ensure_dir,
    remove,
    remove_key_temps,
    remove_stale_temps_of,
    write_atomic,
)
from mailauth.compiler.hostdirs import make_directory, remove_directory, sweep_temp_dirs
from mailauth.compiler.plan import MANIFEST_NAME, FileChange, Plan, host_path

LOCK_NAME = "apply.lock"


def backup_path(root: Path, backups: str, stamp: str, path: str) -> Path:
    """Where the old content of ``path`` is kept, checked as every write is (no symlink)."""
    saved = host_path(root, f"{backups.rstrip('/')}/{stamp}{path}")
    check_path(root, saved)
    return saved


def checked_location(root: Path, change: FileChange) -> Path:
    """Where ``change`` writes, checked again just before the write: no symlink on the
    way below the root (or below the config's directory, for the lock file), nothing but
    a regular file at the end. The plan checked the same; this catches a link made since."""
    target = change.location(root)
    check_path(root if change.rooted else target.parent, target)
    return target


def _write(root: Path, change: FileChange, backups: str, stamp: str) -> None:
    target = checked_location(root, change)
    if change.create_only:
        _create_once(root, target, change)
        return
    if change.old is not None and change.rooted and not (change.secret and change.op == "delete"):
        # Backups may hold secrets (a replaced config with a password): owner-only. A
        # private key deleted (rotation) is not copied: it was archived, or purged on purpose.
        saved = backup_path(root, backups, stamp, change.path)
        write_atomic(saved, change.old, 0o600, dir_mode=0o700, sweep=False)  # a new directory
    if change.op == "delete":
        remove(target, sweep=False)
        return
    assert change.new is not None
    write_atomic(
        target,
        change.new,
        change.mode,
        owner=change.owner,
        group=change.group,
        dir_mode=change.dir_mode,
        sweep=False,
        ids=change.ids,
    )


def _shared_dirs(root: Path, change: FileChange) -> None:
    """Make the directories above a key store as shared ones (0755), so that the store's
    own mode and owner (0700/0750, the signer) do not spread up to ``/etc``."""
    if change.key_store is not None:
        ensure_dir(host_path(root, change.key_store).parent, 0o755)


def _create_once(root: Path, target: Path, change: FileChange) -> None:
    """Private keys: written once, 0600, never over an existing file."""
    assert change.new is not None and change.placeholder is None
    _shared_dirs(root, change)
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
    lost for good. Private keys come first of all, before the zone files, octodns files
    and lock that publish them: killed in between, the next run finds the key on disk and
    adopts it, whereas a record published first would name a key that does not exist.
    Everything else keeps the plan's order.
    """
    deletes = [c for c in pending if c.op == "delete"]
    keys = [c for c in pending if c.op != "delete" and c.create_only]
    others = [c for c in pending if c.op != "delete" and not c.create_only]
    watchers = [c for c in others if c.after]
    rest = keys + watchers + [c for c in others if not c.after]
    manifests = [
        i for i, c in enumerate(rest) if c.rooted and PurePosixPath(c.path).name == MANIFEST_NAME
    ]
    at = manifests[-1] if manifests else len(rest)
    return [*rest[:at], *deletes, *rest[at:]]


def sweep_key_temps(plan: Plan) -> list[Path]:
    """Remove key temp files (".NAME.<hex>.tmp") in every key directory of the plan.

    Each is a whole private key that a killed apply never linked into place. Run under the
    apply lock, where no other writer of this root is alive, and on every apply, even one
    with nothing else to do. The key directories are those of the key files the plan read
    (``plan.inputs``) and of the keys it makes.
    """
    dirs = {c.location(plan.root).parent for c in plan.changes if c.create_only}
    dirs |= {path.parent for path in plan.inputs}
    removed: list[Path] = []
    for directory in sorted(dirs):
        try:
            check_path(plan.root, directory, directory=True)
        except OSError:
            continue  # not a directory under the root that mailauth may touch
        removed += remove_key_temps(directory)
    return removed


def write_plan(plan: Plan, now: datetime, backups: str) -> list[FileChange]:
    """Write every pending change; returns the files written, in order.

    Directories to make or put right come first (the files and sockets they will hold
    come after); directories to remove go after the files deleted from them and before
    the manifest, so that a kill in between leaves them recorded and the next run
    finishes the job.
    """
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
    # An apply killed mid-write leaves ".NAME.mailauth-tmp-PID" beside a target: sweep
    # those of every file of the plan (written or not) first, one listing per directory.
    remove_stale_temps_of(change.location(plan.root) for change in plan.changes)
    sweep_temp_dirs(plan.root, plan.directories)
    for directory in plan.pending_dirs:
        if directory.op != "delete":
            make_directory(plan.root, directory)
    order = write_order(plan.pending)
    manifests = [i for i, c in enumerate(order) if _kind(c) == "manifest"]
    at = manifests[0] if manifests else len(order)
    for part in (order[:at], None, order[at:]):
        if part is None:
            for directory in plan.pending_dirs:
                if directory.op == "delete":
                    remove_directory(plan.root, directory)
        elif len(order) >= BATCH_MIN:
            for group in _groups(part):
                _write_group(plan.root, group, backups, stamp)
        else:
            for change in part:
                _write(plan.root, change, backups, stamp)
    return order


def _kind(change: FileChange) -> str:
    """Which files may be put in place in any order among themselves (see _groups)."""
    if change.op == "delete":
        return "delete"
    if change.rooted and PurePosixPath(change.path).name == MANIFEST_NAME:
        return "manifest"
    if change.after:
        return "watcher"
    if not change.rooted:
        return "outside"  # mailauth.lock: after the keys it records
    return "key" if change.create_only else "file"


def _groups(order: list[FileChange]) -> list[list[FileChange]]:
    """``order`` cut into runs of one kind: the order write_order sets holds between runs.

    Within a run no order is needed: a crash may leave any of its files new and the rest
    old, which the next apply completes (as after a kill between two files of it).
    """
    groups: list[list[FileChange]] = []
    for change in order:
        if groups and _kind(groups[-1][-1]) == _kind(change):
            groups[-1].append(change)
        else:
            groups.append([change])
    return groups


def _write_group(root: Path, group: list[FileChange], backups: str, stamp: str) -> None:
    """A run of changes as ``_write`` makes them, with one sync per step for all of them.

    The backups of the files replaced are in place, and synced, before any file is.
    """
    saved = Batch()
    try:
        for change in group:
            if (
                change.old is not None
                and change.rooted
                and not change.create_only
                and not (change.secret and change.op == "delete")  # see _write
            ):
                path = backup_path(root, backups, stamp, change.path)
                saved.stage(path, change.old, 0o600, dir_mode=0o700)
        saved.commit(link_into_place)
    except BaseException:
        saved.discard()
        raise
    batch = Batch()
    try:
        _stage_group(root, group, batch)
        batch.commit(link_into_place)
    except BaseException:
        batch.discard()  # a staged key's temp file is a whole private key: never left behind
        raise


def _stage_group(root: Path, group: list[FileChange], batch: Batch) -> None:
    """Stage every change of ``group`` in ``batch`` (see _write_group)."""
    ids: dict[tuple[str | None, str | None], tuple[int | None, int | None]] = {}
    for change in group:
        target = checked_location(root, change)
        if change.op == "delete":
            batch.remove(target)
            continue
        assert change.new is not None
        if not change.create_only:
            batch.stage(
                target, change.new, change.mode, owner=change.owner, group=change.group,
                dir_mode=change.dir_mode, ids=change.ids,
            )  # fmt: skip
            continue
        # A private key: never over an existing file, in directories made as the key store's.
        assert change.placeholder is None
        if os.path.lexists(target):
            raise FileExistsError(
                errno.EEXIST, "refusing to overwrite an existing key", str(target)
            )
        names = (change.owner, change.group)
        if names not in ids:
            ids[names] = (
                pwd.getpwnam(change.owner).pw_uid if change.owner else None,
                grp.getgrnam(change.group).gr_gid if change.group else None,
            )
        uid, gid = ids[names]
        mode = change.dir_mode

        def parents(
            directory: Path,
            mode: int = mode,
            uid: int | None = uid,
            gid: int | None = gid,
            change: FileChange = change,
        ) -> None:
            _shared_dirs(root, change)
            make_key_dirs(directory, mode, uid, gid)

        # Named as write_private_key names its temporary files.
        temp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
        batch.stage(
            target, change.new, 0o600, owner=change.owner, group=change.group,
            create_only=True, new_dirs=parents, temp=temp,
        )  # fmt: skip

"""Writing files so that a crash at any instant leaves each one wholly old or wholly new."""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".mailauth-tmp-"


def _ids(owner: str | None, group: str | None) -> tuple[int, int]:
    uid = pwd.getpwnam(owner).pw_uid if owner else -1
    gid = grp.getgrnam(group).gr_gid if group else -1
    return uid, gid


def ensure_dir(path: Path, mode: int = 0o755) -> None:
    """Create missing directories with ``mode``; existing ones are left as they are."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=mode)
            os.chmod(directory, mode)  # mkdir's mode is filtered by the umask
        # A new directory's entry lives in its parent: sync it, or after a power cut the
        # directory (and the fsynced files in it) may be gone although apply succeeded.
        fsync_dir(directory.parent)


def temp_path(path: Path) -> Path:
    """The temporary file ``write_atomic`` fills before renaming it over ``path``."""
    return path.parent / f".{path.name}{TEMP_MARK}{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files of ``path`` left by a writer that died (killed mid-apply).

    A temp file is stale when the process named in it is gone (or is this one: a leftover
    under a recycled pid). Those of a live process are left alone, so this is safe even
    without the apply lock. Returns what was removed.
    """
    prefix = f".{path.name}{TEMP_MARK}"
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    removed: list[Path] = []
    for name in names:
        if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
            continue
        pid = int(name[len(prefix) :])
        if pid != os.getpid() and _alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            (path.parent / name).unlink()
            removed.append(path.parent / name)
    if removed:
        fsync_dir(path.parent)
    return removed


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path,
    data: bytes,
    mode: int = 0o644,
    *,
    owner: str | None = None,
    group: str | None = None,
    dir_mode: int = 0o755,
) -> None:
    """Temp file beside the target, fsync, mode and owner set, then one rename.

    The temp file is created 0600 so that a secret is never readable, even for an instant;
    the final mode is set before the rename makes it visible.
    """
    ensure_dir(path.parent, dir_mode)
    uid, gid = _ids(owner, group)
    remove_stale_temps(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove(path: Path) -> None:
    remove_stale_temps(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an flock on ``path`` so two applies on one root run one after the other."""
    ensure_dir(path.parent, 0o755)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

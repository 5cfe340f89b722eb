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
    tmp = path.parent / f".{path.name}{TEMP_MARK}{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
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
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_dir(path.parent)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an flock on ``path`` so two applies on one root run one after the other."""
    ensure_dir(path.parent, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

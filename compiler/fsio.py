"""Writing files so that a crash at any instant leaves each one wholly old or wholly new."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import grp
import os
import pwd
from collections.abc import Callable, Iterable, Iterator
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


def remove_stale_temps_of(paths: Iterable[Path]) -> list[Path]:
    """``remove_stale_temps`` for many files at once, listing each directory once.

    (Listing a directory of ten thousand zone files once per file would cost quadratic
    time.)
    """
    by_dir: dict[Path, set[str]] = {}
    for path in paths:
        by_dir.setdefault(path.parent, set()).add(path.name)
    removed: list[Path] = []
    for directory, names in by_dir.items():
        try:
            entries = os.listdir(directory)
        except FileNotFoundError:
            continue
        gone: list[Path] = []
        for entry in entries:
            target, mark, pid = entry.rpartition(TEMP_MARK)
            if not mark or not target.startswith(".") or target[1:] not in names:
                continue
            if not pid.isdigit() or (int(pid) != os.getpid() and _alive(int(pid))):
                continue
            with contextlib.suppress(FileNotFoundError):
                (directory / entry).unlink()
                gone.append(directory / entry)
        if gone:
            fsync_dir(directory)
        removed += gone
    return removed


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(tmp: Path, data: bytes, mode: int, uid: int, gid: int, *, sync: bool) -> None:
    """Create ``tmp`` 0600 (a secret is never readable, even for an instant), fill it, then
    set owner and final mode; on any failure it is removed again."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
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


def write_atomic(
    path: Path,
    data: bytes,
    mode: int = 0o644,
    *,
    owner: str | None = None,
    group: str | None = None,
    dir_mode: int = 0o755,
    sweep: bool = True,
) -> None:
    """Temp file beside the target, fsync, mode and owner set, then one rename.

    The temp file is created 0600 so that a secret is never readable, even for an instant;
    the final mode is set before the rename makes it visible. ``sweep=False``: the caller
    has removed stale temp files already (``remove_stale_temps_of``).
    """
    ensure_dir(path.parent, dir_mode)
    uid, gid = _ids(owner, group)
    if sweep:
        remove_stale_temps(path)
    tmp = temp_path(path)
    write_temp(tmp, data, mode, uid, gid, sync=True)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove(path: Path, *, sweep: bool = True) -> None:
    if sweep:
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


# -- many files: one sync per step instead of two fsyncs per file -----------------------------

#: From this many pending files on, apply writes in batches (``Batch``).
BATCH_MIN = 64


def _syncfs(directory: Path) -> None:
    """Flush everything written to the filesystem holding ``directory`` (Linux syncfs)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(directory))
    finally:
        os.close(fd)


class Batch:
    """Writes many files with the guarantees of ``write_atomic``, syncing once per step.

    Per file the steps are those of ``write_atomic``: a 0600 temporary file beside the
    target, its data, owner and mode, then one rename. Here every file of a batch does a
    step before any does the next, and the filesystems are synced in between: ``stage``
    fills the temporary files, ``commit`` syncs them, renames them all (in order), and
    syncs again. A crash leaves each target old or new (its data was durable before the
    rename), as ``write_atomic`` does; what a batch does not promise is an order among its
    own renames, so callers put files whose order matters in different batches.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path, bool]] = []  # (temp, target, create only)
        self.removals: list[Path] = []
        self.dirs: set[Path] = set()

    def stage(
        self,
        path: Path,
        data: bytes,
        mode: int = 0o644,
        *,
        owner: str | None = None,
        group: str | None = None,
        dir_mode: int = 0o755,
        create_only: bool = False,
        new_dirs: Callable[[Path], None] | None = None,
        temp: Path | None = None,
    ) -> None:
        """Write ``data`` to the temporary file of ``path`` (renamed by ``commit``).

        ``create_only``: ``commit`` links it into place and fails if ``path`` exists (a
        private key is never replaced). ``new_dirs`` makes missing parent directories
        (default: ``ensure_dir`` with ``dir_mode``). ``temp``: the temporary file's name
        (default: ``temp_path(path)``).
        """
        if new_dirs is not None:
            new_dirs(path.parent)
        else:
            ensure_dir(path.parent, dir_mode)
        uid, gid = _ids(owner, group)
        tmp = temp if temp is not None else temp_path(path)
        # No fsync per file: commit syncs the whole filesystem once for the batch.
        write_temp(tmp, data, mode, uid, gid, sync=False)
        self.pending.append((tmp, path, create_only))
        self.dirs.add(path.parent)

    def remove(self, path: Path) -> None:
        """Delete ``path`` at ``commit`` (after the renames)."""
        self.removals.append(path)
        self.dirs.add(path.parent)

    def _sync(self) -> None:
        devices: dict[int, Path] = {}
        for directory in self.dirs:
            with contextlib.suppress(FileNotFoundError):
                devices.setdefault(os.stat(directory).st_dev, directory)
        for directory in devices.values():
            _syncfs(directory)

    def commit(self, link: Callable[[Path, Path], None]) -> None:
        """Sync the data, put every file in place, delete what goes, and sync again.

        ``link(tmp, path)`` puts a create-only file in place without replacing anything.
        """
        if not self.pending and not self.removals:
            return
        self._sync()
        for tmp, path, create_only in self.pending:
            if create_only:
                link(tmp, path)
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            else:
                os.replace(tmp, path)
        for path in self.removals:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._sync()
        self.pending.clear()
        self.removals.clear()
        self.dirs.clear()

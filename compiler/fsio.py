"""Writing files so that a crash at any instant leaves each one wholly old or wholly new."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import grp
import os
import pwd
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

TEMP_MARK = ".mailauth-tmp-"
#: Key temp files (``.NAME.<16 hex>.tmp``): each holds a whole private key until linked.
KEY_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{16}\.tmp$")
#: The most mailauth reads of one file: a FIFO or a device never gets to fill memory.
READ_LIMIT = 64 * 1024 * 1024


class UnsafePath(OSError):
    """A path under the root leads through a symlink, or names something not a file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _trusted_link(link: Path, st: os.stat_result) -> bool:
    """A symlink only the administrator could have made: owned by root, in a directory
    that no one but root may write (``/var/run -> /run`` on a Debian host)."""
    if st.st_uid != 0:
        return False
    try:
        parent = os.lstat(link.parent)
    except OSError:
        return False
    return parent.st_uid == 0 and not parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def check_path(
    root: Path, path: Path, *, what: str = "", directory: bool = False
) -> os.stat_result | None:
    """Refuse ``path`` unless every component below ``root`` is a real directory and the
    file itself is absent or a regular file; return its lstat (None: absent).

    Components are examined with lstat, never followed. Below a staging root (anything
    but ``/``) no symlink is accepted at all: the tree may come from a pull request, and
    a link would carry a read or a write outside it. With ``--root /`` the paths are the
    host's own, and a directory link that only root could have made (owned by root, in a
    directory only root can write: ``/var/run -> /run``) is followed; any other link is
    refused. The file itself is never a symlink, FIFO, socket or device, whatever the
    root. ``root`` itself is the user's choice and is not examined. ``directory``: the
    path itself must be a directory (absent, or a real one).
    """
    label = what or str(path)
    # Strings, not Path objects: plan checks every file of thousands of zones this way.
    base = str(root)
    text = str(path)
    prefix = base if base.endswith("/") else base + "/"
    if not text.startswith(prefix):
        raise UnsafePath(f"{label}: not under the root {root}")
    parts = [part for part in text[len(prefix) :].split("/") if part]
    if not parts or ".." in parts:
        raise UnsafePath(f"{label}: not a file under the root {root}")
    at_slash = root == Path("/")
    current = prefix.rstrip("/")
    for index, part in enumerate(parts):
        current = f"{current}/{part}"
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None  # the rest does not exist yet: apply makes real directories
        except NotADirectoryError:
            raise UnsafePath(f"{label}: {os.path.dirname(current)} is not a directory") from None
        last = index == len(parts) - 1
        if stat.S_ISLNK(st.st_mode):
            if not last and at_slash and _trusted_link(Path(current), st):
                try:
                    target = os.stat(current)
                except OSError:
                    raise UnsafePath(f"{label}: {current} is a dangling symlink") from None
                if stat.S_ISDIR(target.st_mode):
                    continue
            raise UnsafePath(
                f"{label}: {current} is a symlink; mailauth does not follow symlinks "
                "under the root (replace it with the real directory or file)"
            )
        if not last:
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"{label}: {current} is not a directory")
            continue
        if directory:
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafePath(f"{label}: is not a directory")
            return st
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePath(f"{label}: is a directory, expected a file")
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(
                f"{label}: is not a regular file (a FIFO, socket or device); "
                "mailauth neither reads nor replaces it"
            )
        return st
    return None  # pragma: no cover - parts is never empty


def read_checked(root: Path, path: Path, *, what: str = "") -> tuple[bytes, os.stat_result] | None:
    """The bytes of ``path`` and its stat, after ``check_path``; None if it is absent.

    Opened without following a symlink and without blocking (a FIFO swapped in after the
    check cannot hang the plan), checked again as a regular file once open, and never
    read past ``READ_LIMIT``.
    """
    label = what or str(path)
    if check_path(root, path, what=what) is None:
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{label}: is a symlink; mailauth does not follow it") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{label}: is not a regular file")
        if st.st_size > READ_LIMIT:
            raise UnsafePath(f"{label}: larger than {READ_LIMIT // (1024 * 1024)} MiB")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > READ_LIMIT:
                raise UnsafePath(f"{label}: larger than {READ_LIMIT // (1024 * 1024)} MiB")
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def remove_key_temps(directory: Path) -> list[Path]:
    """Delete key temp files (``.NAME.<hex>.tmp``) in ``directory``: each is a whole
    private key that a killed writer never linked into place. Called under the apply
    lock, so no writer of this root is alive to own one."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed: list[Path] = []
    for name in names:
        if KEY_TEMP.match(name) is None:
            continue
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
            removed.append(directory / name)
    if removed:
        fsync_dir(directory)
    return removed


def _ids(owner: str | None, group: str | None) -> tuple[int, int]:
    uid = pwd.getpwnam(owner).pw_uid if owner else -1
    gid = grp.getgrnam(group).gr_gid if group else -1
    return uid, gid


def _pick_ids(owner: str | None, group: str | None, ids: tuple[int, int] | None) -> tuple[int, int]:
    """Named owner and group win; otherwise the carried-over ``ids`` (-1: leave as is)."""
    uid, gid = _ids(owner, group)
    if ids is not None:
        uid = ids[0] if uid == -1 else uid
        gid = ids[1] if gid == -1 else gid
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
    ids: tuple[int, int] | None = None,
) -> None:
    """Temp file beside the target, fsync, mode and owner set, then one rename.

    The temp file is created 0600 so that a secret is never readable, even for an instant;
    the final mode is set before the rename makes it visible. ``sweep=False``: the caller
    has removed stale temp files already (``remove_stale_temps_of``). ``ids``: the uid and
    gid to give it when no owner/group is named (those of the file it replaces).
    """
    ensure_dir(path.parent, dir_mode)
    uid, gid = _pick_ids(owner, group, ids)
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
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
        ids: tuple[int, int] | None = None,
    ) -> None:
        """Write ``data`` to the temporary file of ``path`` (renamed by ``commit``).

        ``create_only``: ``commit`` links it into place and fails if ``path`` exists (a
        private key is never replaced). ``new_dirs`` makes missing parent directories
        (default: ``ensure_dir`` with ``dir_mode``). ``temp``: the temporary file's name
        (default: ``temp_path(path)``). ``ids``: as for ``write_atomic``.
        """
        if new_dirs is not None:
            new_dirs(path.parent)
        else:
            ensure_dir(path.parent, dir_mode)
        uid, gid = _pick_ids(owner, group, ids)
        tmp = temp if temp is not None else temp_path(path)
        # No fsync per file: commit syncs the whole filesystem once for the batch.
        write_temp(tmp, data, mode, uid, gid, sync=False)
        self.pending.append((tmp, path, create_only))
        self.dirs.add(path.parent)

    def discard(self) -> None:
        """Remove the temporary files staged so far (an error or ^C before ``commit``):
        a key's temporary file is a whole private key that must not stay behind."""
        for tmp, _path, _create_only in self.pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.pending.clear()

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
        try:
            self._sync()
            for tmp, path, create_only in self.pending:
                if create_only:
                    link(tmp, path)
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                else:
                    os.replace(tmp, path)
        except BaseException:
            self.discard()  # what is not in place yet goes, key temp files above all
            raise
        for path in self.removals:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._sync()
        self.pending.clear()
        self.removals.clear()
        self.dirs.clear()

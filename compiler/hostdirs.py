"""The host beyond files: the directories generated configs name, and host steps (issue 12).

A daemon that has dropped root cannot make the directory of its socket, pid file or
history file, and nothing on a stock Debian host makes it for it: OpenDKIM then fails with
``smfi_opensocket() failed`` and OpenDMARC defers every message. So plan compares each
directory a backend declares (``Directory``) with the disk, and apply makes it.

What mailauth may do to a directory depends on who made it:

* absent: created (a temp directory beside it, owner and mode set, renamed into place);
* made by mailauth (the manifest's ``directories``): owner and mode put right, removed
  when no longer needed if it is empty (else left, with a note);
* found there, exactly as wanted: adopted (recorded), as an identical file is;
* found there otherwise: left as it is if the daemon can create files in it, else refused
  with what to do: mailauth never chowns a directory it did not make.

Owners are compared and set only when mailauth runs as root (otherwise it could not set
them, and a staging tree made as a user would never plan empty).

Host steps (``GroupMember``) are checked against the host's groups on ``--root /`` only:
a staging root's ``etc/group`` is not what the host will have, so there every step is
printed, marked unchecked.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import grp
import os
import pwd
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from mailauth.backends.base import Directory, GroupMember
from mailauth.compiler.fsio import TEMP_MARK, UnsafePath, check_path, ensure_dir, fsync_dir

DirOp = Literal["create", "update", "delete", "unchanged"]
Seen = tuple[int, int, int] | None  # uid, gid, mode of what plan found (None: absent)


class DirError(Exception):
    """A declared directory cannot be planned (unusable, a symlink, an unknown owner)."""

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


@dataclass(frozen=True)
class DirChange:
    """One directory's fate. ``ours``: recorded in the manifest after this plan."""

    path: str
    op: DirOp
    target: str
    owner: str | None
    group: str | None
    mode: int
    purpose: str
    ours: bool
    seen: Seen
    current: str | None = None  # "owner:group 0755" as found, for plan output
    note: str | None = None

    @property
    def wanted(self) -> str:
        return f"{self.owner or 'root'}:{self.group or 'root'} {self.mode:04o}"

    def headline(self) -> str:
        """``create directory PATH opendkim:opendkim 0750``, as plan prints it."""
        if self.op == "update":
            return f"update directory {self.path} {self.current} -> {self.wanted}"
        if self.op == "delete":
            return f"delete directory {self.path} (empty)"
        return f"{self.op} directory {self.path} {self.wanted}"


@dataclass(frozen=True)
class HostStep:
    """A required host step: ``checked`` is True when it was found missing on ``/``."""

    command: str
    why: str
    target: str
    checked: bool


def _name(uid: int, lookup: str) -> str:
    try:
        return pwd.getpwuid(uid).pw_name if lookup == "user" else grp.getgrgid(uid).gr_name
    except KeyError:
        return str(uid)


def describe(st: os.stat_result) -> str:
    return f"{_name(st.st_uid, 'user')}:{_name(st.st_gid, 'group')} {stat.S_IMODE(st.st_mode):04o}"


def wanted_ids(want: Directory, target: str) -> tuple[int, int]:
    """uid and gid of the directory's owner (root when none is named)."""
    try:
        uid = pwd.getpwnam(want.owner).pw_uid if want.owner else 0
    except KeyError:
        raise DirError(
            f"{want.path} ({want.purpose}): user {want.owner!r} does not exist on this host; "
            "install the daemon's package first (it creates its user), or set "
            f"targets.{target}.user",
            target,
        ) from None
    try:
        gid = grp.getgrnam(want.group).gr_gid if want.group else 0
    except KeyError:
        raise DirError(
            f"{want.path} ({want.purpose}): group {want.group!r} does not exist on this host",
            target,
        ) from None
    return uid, gid


def _usable(st: os.stat_result, uid: int, user: str | None) -> bool:
    """The daemon's user may create files in the directory (its socket, pid, history)."""
    if uid == 0:
        return True
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid == uid:
        return mode & 0o300 == 0o300
    gids = {pwd.getpwuid(uid).pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    if st.st_gid in gids:
        return mode & 0o030 == 0o030
    return mode & 0o003 == 0o003


def _is_empty(where: Path) -> bool:
    with os.scandir(where) as entries:
        return next(entries, None) is None


def plan_directories(
    root: Path,
    wanted: Sequence[tuple[str, Directory]],
    previous: Mapping[str, Sequence[str]],
    targets: Iterable[str],
) -> list[DirChange]:
    """Every declared directory compared with the disk under ``root``, then those that
    mailauth made for the ``targets`` of this run and no longer needs (module docstring)."""
    as_root = os.geteuid() == 0
    ours_before = {p for paths in previous.values() for p in paths}
    by_path: dict[str, tuple[str, Directory]] = {}
    for target, want in wanted:
        if want.path in by_path and by_path[want.path][1] != want:
            other, first = by_path[want.path]
            raise DirError(
                f"{want.path}: wanted as {first.owner}:{first.group} {first.mode:04o} by "
                f"{other} and as {want.owner}:{want.group} {want.mode:04o} by {target}",
                target,
            )
        by_path.setdefault(want.path, (target, want))
    changes: list[DirChange] = []
    for path in sorted(by_path, key=lambda p: PurePosixPath(p).parts):
        target, want = by_path[path]
        changes.append(_plan_one(root, target, want, path in ours_before, as_root))
    run = set(targets)
    gone = {p for t in run for p in previous.get(t, [])} - set(by_path)
    owner_of = {p: t for t, paths in previous.items() for p in paths}
    for path in sorted(gone, key=lambda p: PurePosixPath(p).parts, reverse=True):
        changes.append(_plan_gone(root, owner_of[path], path))
    return changes


def _where(root: Path, path: str) -> Path:
    return root.joinpath(*PurePosixPath(path).parts[1:])


def _plan_one(root: Path, target: str, want: Directory, ours: bool, as_root: bool) -> DirChange:
    where = _where(root, want.path)
    try:
        st = check_path(root, where, what=want.path, directory=True)
    except UnsafePath as exc:
        raise DirError(f"{exc} ({want.purpose})", target) from None
    uid, gid = wanted_ids(want, target) if as_root else (-1, -1)

    def change(op: DirOp, mine: bool, note: str | None = None) -> DirChange:
        seen = None if st is None else (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
        return DirChange(
            path=want.path, op=op, target=target, owner=want.owner, group=want.group,
            mode=want.mode, purpose=want.purpose, ours=mine, seen=seen,
            current=None if st is None else describe(st), note=note,
        )  # fmt: skip

    if st is None:
        return change("create", True)
    exact = stat.S_IMODE(st.st_mode) == want.mode and (
        not as_root or (st.st_uid, st.st_gid) == (uid, gid)
    )
    if exact:
        return change("unchanged", True)
    if ours:
        return change("update", True)
    if not as_root or _usable(st, uid, want.owner):
        return change("unchanged", False)
    raise DirError(
        f"{want.path} ({want.purpose}) exists as {describe(st)}, was not made by mailauth, "
        f"and {want.owner or 'root'} cannot create files in it: make it "
        f"{want.owner or 'root'}:{want.group or 'root'} {want.mode:04o} yourself (chown/chmod), "
        "or remove it and mailauth makes it",
        target,
    )


def _plan_gone(root: Path, target: str, path: str) -> DirChange:
    """A directory mailauth made and no longer needs: removed only if empty."""
    where = _where(root, path)
    try:
        st = check_path(root, where, what=path, directory=True)
    except UnsafePath as exc:
        raise DirError(str(exc), target) from None

    def gone(op: DirOp, ours: bool, seen: Seen, note: str | None = None) -> DirChange:
        return DirChange(
            path=path, op=op, target=target, owner=None, group=None, mode=0,
            purpose="no longer needed", ours=ours, seen=seen, note=note,
        )  # fmt: skip

    if st is None:
        return gone("unchanged", False, None)
    seen = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    if _is_empty(where):
        return gone("delete", False, seen)
    note = f"{path}: made by mailauth and no longer needed, but not empty: left in place"
    return gone("unchanged", True, seen, note)


def still_as_seen(root: Path, change: DirChange) -> bool:
    """The directory is as plan found it (apply re-plans under its lock otherwise)."""
    try:
        st = os.lstat(_where(root, change.path))
    except FileNotFoundError:
        return change.seen is None
    return change.seen == (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


# -- host steps ---------------------------------------------------------------------------------


def _member(user: str, group: str) -> bool:
    try:
        entry = grp.getgrnam(group)
        primary = pwd.getpwnam(user).pw_gid
    except KeyError:
        return False
    return user in entry.gr_mem or primary == entry.gr_gid


def host_steps(root: Path, needed: Sequence[tuple[str, GroupMember]]) -> list[HostStep]:
    """The steps still to do: on ``--root /`` those the host's groups do not satisfy yet;
    under a staging root all of them (unchecked: that root's groups are not the host's)."""
    on_host = root == Path("/")
    steps: dict[str, HostStep] = {}
    for target, need in needed:
        if on_host and _member(need.user, need.group):
            continue
        steps.setdefault(need.command, HostStep(need.command, need.why, target, on_host))
    return list(steps.values())


# -- apply --------------------------------------------------------------------------------------

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(src: Path, dst: Path) -> None:
    """rename(2) that fails with EEXIST if ``dst`` exists: a plain rename would silently
    replace an empty directory made meanwhile by someone else."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - old libc
        renameat2 = None
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE):
            err = ctypes.get_errno()
            if err not in (errno.ENOSYS, errno.EINVAL):
                raise OSError(err, os.strerror(err), str(dst))
        else:
            return
    if os.path.lexists(dst):  # pragma: no cover - kernels without renameat2
        raise FileExistsError(errno.EEXIST, "exists already", str(dst))
    os.rename(src, dst)


def _temp_dir(where: Path) -> Path:
    return where.parent / f".{where.name}{TEMP_MARK}{os.getpid()}"


def sweep_temp_dirs(root: Path, changes: Iterable[DirChange]) -> None:
    """Remove empty temp directories (``.NAME.mailauth-tmp-PID``) of dead applies."""
    for change in changes:
        where = _where(root, change.path)
        prefix = f".{where.name}{TEMP_MARK}"
        try:
            names = os.listdir(where.parent)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            pid = name[len(prefix) :]
            if not name.startswith(prefix) or not pid.isdigit():
                continue
            if int(pid) != os.getpid():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), 0)
                    continue  # its writer is alive
            with contextlib.suppress(FileNotFoundError, OSError):
                os.rmdir(where.parent / name)


def _set(fd: int, change: DirChange) -> None:
    if os.geteuid() == 0:
        uid, gid = wanted_ids(
            Directory(change.path, change.owner, change.group, change.mode, change.purpose),
            change.target,
        )
        os.fchown(fd, uid, gid)
    os.fchmod(fd, change.mode)


def _open_dir(where: Path) -> int:
    return os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def make_directory(root: Path, change: DirChange) -> None:
    """Create or put right one directory: never through a symlink, never half made (a
    temp directory gets owner and mode, then is renamed into place)."""
    where = _where(root, change.path)
    st = check_path(root, where, what=change.path, directory=True)
    if change.op == "update":
        if st is None:
            raise FileNotFoundError(errno.ENOENT, "vanished since the plan", str(where))
        fd = _open_dir(where)
        try:
            _set(fd, change)
        finally:
            os.close(fd)
        return
    if st is not None:
        raise FileExistsError(errno.EEXIST, "appeared since the plan", str(where))
    ensure_dir(where.parent, 0o755)
    temp = _temp_dir(where)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(temp)  # a leftover of this very pid
    os.mkdir(temp, 0o700)
    try:
        fd = _open_dir(temp)
        try:
            _set(fd, change)
        finally:
            os.close(fd)
        _rename_noreplace(temp, where)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rmdir(temp)
        raise
    fsync_dir(where.parent)


def remove_directory(root: Path, change: DirChange) -> None:
    """rmdir a directory mailauth made and no longer needs; one that is no longer empty
    is left (the next plan notes it)."""
    where = _where(root, change.path)
    if check_path(root, where, what=change.path, directory=True) is None:
        return
    try:
        os.rmdir(where)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            raise
        return
    fsync_dir(where.parent)

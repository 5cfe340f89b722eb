"""Output roots that a real OpenDKIM will accept keys under.

OpenDKIM refuses a key file if any directory above it is writable by group or others
("key data is not secure"), which rules out everything under /tmp and /var/tmp (1777).
Roots made here live under ``SAFE_BASE`` (``/var/lib/mailauth-tests`` unless
``MAILAUTH_TEST_BASE`` says otherwise), each directory from ``/`` down owned by root or
by us and mode 0755 at most.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from support.tools import unavailable

SAFE_BASE = Path(os.environ.get("MAILAUTH_TEST_BASE", "/var/lib/mailauth-tests"))


def check_no_writable_ancestors(path: Path) -> list[str]:
    """Problems with ``path`` and every directory above it (empty list: all safe).

    Safe means: owned by root or by the current user, not writable by group or others.
    """
    problems: list[str] = []
    me = os.geteuid()
    current = path.resolve()
    for directory in (current, *current.parents):
        info = directory.stat()
        if info.st_uid not in (0, me):
            problems.append(f"{directory}: owned by uid {info.st_uid}")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            problems.append(f"{directory}: mode {stat.filemode(info.st_mode)} (group/other write)")
    return problems


def _ensure_base(base: Path) -> None:
    try:
        base.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(base, 0o755)
    except OSError as exc:
        unavailable(f"cannot make the test base {base} ({exc}); set MAILAUTH_TEST_BASE")
    problems = check_no_writable_ancestors(base)
    if problems:
        unavailable(
            f"{base} is not a safe place for key files: {'; '.join(problems)}; "
            "set MAILAUTH_TEST_BASE to a directory under root-owned 0755 parents"
        )


@contextlib.contextmanager
def safe_directory(prefix: str = "root-", *, keep: bool = False) -> Iterator[Path]:
    """A fresh 0755 directory under ``SAFE_BASE``, removed afterwards (unless ``keep``)."""
    _ensure_base(SAFE_BASE)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=SAFE_BASE))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            SAFE_BASE.rmdir()  # only if no other test run is using it


#: Debian's own main.cf and master.cf (the postfix package, "Internet Site").
DEBIAN_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "debian"


def seed_postfix(base: Path, directory: str = "etc/postfix") -> Path:
    """The host's Postfix files under ``base`` (Debian's, unless already there): a staging
    root mirrors a host, and mailauth edits these files but never invents them."""
    etc = base / directory
    etc.mkdir(parents=True, exist_ok=True)
    for name in ("main.cf", "master.cf"):
        if not (etc / name).exists():
            shutil.copy(DEBIAN_FIXTURES / name, etc / name)
    return etc

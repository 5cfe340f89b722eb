"""Host paths read under ``--root``: a file named by a configuration is opened inside the
root or not at all, whatever ``..`` or symbolic links it goes through."""

from __future__ import annotations

import posixpath
from pathlib import Path


class OutsideRoot(ValueError):
    """A path that leads out of the root (or is no usable path)."""


def host_path(path: str, base: str = "/") -> str:
    """``path`` as an absolute, normalised host path; a relative one is under ``base``."""
    if "\0" in path or not path:
        raise OutsideRoot(f"{path!r} is not a usable path")
    joined = path if path.startswith("/") else posixpath.join(base, path)
    return posixpath.normpath(joined).replace("//", "/")


def under_root(root: Path, path: str, base: str = "/") -> Path:
    """The file under ``root`` that the host path ``path`` names; raises OutsideRoot when
    it (after ``..`` and symbolic links) would be outside the root."""
    top = root.resolve()
    target = (top / host_path(path, base).lstrip("/")).resolve()
    if not target.is_relative_to(top):
        raise OutsideRoot(f"{path!r} leads outside the root {str(root)!r}")
    return target


def as_host(root: Path, path: Path) -> str:
    """A file under ``root`` as the host sees it (``/var/named/zone.x``)."""
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    return "/" if rel == "." else "/" + rel

"""Finding the real programs the end-to-end tests drive."""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest

# Daemons live in sbin, which a non-root PATH often lacks.
_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def in_ci() -> bool:
    """True on the CI runner (``CI=true``), where a missing tool is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test for a missing prerequisite; in CI fail it, so nothing passes by absence."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing prerequisite is a failure)", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """The absolute path of program ``name``; skips (or fails under CI) if it is missing."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *_EXTRA_PATH])
    found = shutil.which(name, path=search)
    if found is None:
        unavailable(f"{name} is not installed (see .ci/run for the Debian packages)")
    return found


def require_module(name: str) -> ModuleType:
    """The Python module ``name`` (a test extra); skips (or fails under CI) if it is missing."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"the Python module {name} is not installed (pip install -e '.[test]')")

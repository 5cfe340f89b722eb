"""Running the real ``mailauth`` command line, as a user would, in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# The installed console script may belong to another interpreter; this one has mailauth.
_ENTRY = "import sys; from mailauth.compiler.cli import main; sys.argv[0] = 'mailauth'; main()"


def mailauth_argv(*args: str | Path) -> list[str]:
    """argv that runs ``mailauth ARGS`` with the test's own Python."""
    return [sys.executable, "-c", _ENTRY, *(str(a) for a in args)]


def mailauth_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child mailauth: unbuffered, no colour, plus ``extra``."""
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra or {})
    return env


def run_mailauth(
    *args: str | Path,
    expect: int | Sequence[int] | None = 0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``mailauth ARGS``; asserts the exit status is ``expect`` (None: any).

    The failure message carries the command, its stdout and its stderr.
    """
    result = subprocess.run(
        mailauth_argv(*args),
        cwd=cwd,
        env=mailauth_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if expect is not None:
        allowed = (expect,) if isinstance(expect, int) else tuple(expect)
        assert result.returncode in allowed, (
            f"mailauth {' '.join(map(str, args))}: exit {result.returncode}, "
            f"expected {' or '.join(map(str, allowed))}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result

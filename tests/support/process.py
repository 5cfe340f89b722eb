"""A daemon run in the foreground for the length of a test.

Every server the end-to-end tests need (named, opendkim, opendmarc, postfix, pdns_server)
follows one life: write a config, start the program in the foreground with its log going
to a file, poll until it answers, run the test, stop it (SIGTERM, then SIGKILL), and show
its log whenever something went wrong. Subclasses override :meth:`argv`, :meth:`prepare`
and :meth:`is_ready`, or pass them in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

import pytest

from support.net import wait_until

LOG_TAIL = 120  # lines of a server's log shown with a failure


def _exited(pid: int) -> bool:
    """True once ``pid`` (our child) has exited, without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
    except ChildProcessError:
        return True
    return info is not None


def _wait_exited(pid: int, timeout: float) -> bool:
    return wait_until(lambda: _exited(pid), timeout=timeout, interval=0.02)


class ServerProcess:
    """Start ``argv`` in its own process group, wait for ``ready()``, stop it on exit.

    ``wrap`` is put in front of the command (say ``["ip", "netns", "exec", "ns1"]``).
    ``workdir`` holds the log and whatever config a subclass writes; a temporary one is
    made (and removed) when none is given.
    """

    name = "server"

    def __init__(
        self,
        argv: Sequence[str] | None = None,
        *,
        name: str | None = None,
        ready: Callable[[], bool] | None = None,
        workdir: Path | None = None,
        wrap: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        if name is not None:
            self.name = name
        self._argv = list(argv) if argv is not None else None
        self._ready = ready
        self._own_workdir = workdir is None
        self.workdir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="srv-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.wrap = list(wrap)
        self.env = dict(env) if env is not None else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.stop_signal = stop_signal
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- what subclasses provide -------------------------------------------------------

    def argv(self) -> list[str]:
        if self._argv is None:
            raise NotImplementedError("pass argv or override argv()")
        return self._argv

    def prepare(self) -> None:
        """Write config files before the start (into :attr:`workdir`)."""

    def is_ready(self) -> bool:
        return self._ready() if self._ready is not None else True

    def failed_early(self) -> str | None:
        """A reason to stop waiting before the timeout (a fatal line in the log, say)."""
        return None

    # -- life cycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Started and not exited (checked without reaping, see :meth:`stop`)."""
        return self.proc is not None and self.proc.returncode is None and not _exited(self.proc.pid)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def fail(self, message: str) -> NoReturn:
        """Stop the server and fail the test with ``message`` and the end of the log."""
        self.stop()
        pytest.fail(
            f"{self.name}: {message}\n--- {self.log_path} (last {LOG_TAIL} lines) ---\n"
            f"{self.log_tail()}",
            pytrace=False,
        )

    def start(self) -> Self:
        self.prepare()
        command = [*self.wrap, *self.argv()]
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=self.env,
                start_new_session=True,
            )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        reason: list[str] = []

        def give_up() -> bool:
            if not self.running:
                reason.append(f"exited with status {self.returncode()} before it was ready")
                return True
            early = self.failed_early()
            if early is not None:
                reason.append(early)
                return True
            return False

        limit = self.start_timeout if timeout is None else timeout
        if not wait_until(self.is_ready, timeout=limit, interval=0.05, give_up=give_up):
            self.fail(reason[0] if reason else f"not ready after {limit:g} s")

    def returncode(self) -> int | None:
        """The exit status once the server has exited (reaps it), else None."""
        if self.proc is None or self.running:
            return None
        return self.proc.wait()

    def send_signal(self, signum: int) -> None:
        """Signal the server (SIGHUP to reload, say) if it is running."""
        if self.proc is not None and self.running:
            os.kill(self.proc.pid, signum)

    def stop(self) -> None:
        """``stop_signal``, wait, then SIGKILL; stragglers in its process group go too.

        The group is only signalled while the leader is unreaped, so its id cannot have
        been handed to an unrelated process.
        """
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        # os.kill, not Popen.send_signal: that one polls, and so may reap the leader.
        if not _exited(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, self.stop_signal)
            if not _wait_exited(proc.pid, self.stop_timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _wait_exited(proc.pid, self.stop_timeout)
        if proc.returncode is None:  # still unreaped: the group id is still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(self.stop_timeout)

    def cleanup(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            self.cleanup()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is not None and not issubclass(exc_type, pytest.skip.Exception):
            # pytest shows captured stderr with the failure: the server's side of the story.
            print(
                f"--- {self.name} log {self.log_path} (last {LOG_TAIL} lines) ---\n"
                f"{self.log_tail()}",
                file=sys.stderr,
            )
        self.cleanup()

    def wait_exit(self, timeout: float) -> int:
        """Wait for a server expected to end by itself; its exit status."""
        assert self.proc is not None
        if not _wait_exited(self.proc.pid, timeout):
            self.fail(f"still running after {timeout:g} s")
        return self.proc.wait()

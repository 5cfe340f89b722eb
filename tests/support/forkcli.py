"""Run ``mailauth`` commands as forked children of a warm, single-threaded server.

Importing mailauth (pydantic, typer, cryptography, dnspython) costs most of a small
command's time. The server imports it once; for each request it forks a child that is
then exactly ``mailauth ARGS`` in a process of its own: its own session and process group,
cwd, environment, stdin from /dev/null, stdout and stderr to files. The server reports the
exit status and the child's peak memory. Nothing is shared between commands but the
imported modules, as if each had been started fresh.

Set ``MAILAUTH_HOSTILE_FORK=0`` to start every command as a plain subprocess instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_SERVER = r"""
import json, os, select, signal, sys, traceback
import mailauth.compiler.cli as cli
for name in ("mailauth.compiler.driver", "mailauth.compiler.plan", "mailauth.compiler.apply",
             "mailauth.schema.validate", "mailauth.backends", "mailauth.compiler.lint",
             "mailauth.compiler.report", "mailauth.compiler.dkimkeys"):
    try:
        __import__(name)
    except ImportError:
        pass
children = {}
requests = sys.stdin.buffer
out = sys.stdout

def child(req):
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
    os.dup2(os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = ["mailauth", *req["args"]]
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

buffer = b""
print(json.dumps({"ready": True}), file=out, flush=True)
while True:
    ready, _, _ = select.select([requests], [], [], 0.05)
    if ready:
        chunk = os.read(requests.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            req = json.loads(line)
            if "kill" in req:
                pid = children.get(req["kill"])
                if pid:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                continue
            out.flush()
            pid = os.fork()
            if pid == 0:
                child(req)
            children[req["id"]] = pid
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        for ident, known in list(children.items()):
            if known == pid:
                del children[ident]
                code = os.waitstatus_to_exitcode(status)
                print(json.dumps({"id": ident, "code": code, "rss": usage.ru_maxrss}),
                      file=out, flush=True)
"""


@dataclass(frozen=True)
class Finished:
    """Exit status (negative: killed by that signal) and peak memory in KiB."""

    code: int
    max_rss_kb: int


class ForkServer:
    """One warm server process; thread-safe :meth:`run`."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=True,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin: IO[bytes] = self._process.stdin
        self._stdout: IO[bytes] = self._process.stdout
        first = json.loads(self._stdout.readline() or b"{}")
        if not first.get("ready"):
            raise RuntimeError("the mailauth fork server did not start")
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[Finished]] = {}
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stdout:
            message = json.loads(line)
            with self._lock:
                future = self._waiting.pop(message["id"], None)
            if future is not None:
                future.set_result(Finished(message["code"], message["rss"]))
        with self._lock:
            for future in self._waiting.values():
                future.set_exception(RuntimeError("the mailauth fork server died"))
            self._waiting.clear()

    def _send(self, message: Mapping[str, object]) -> None:
        with self._lock:
            self._stdin.write(json.dumps(message).encode() + b"\n")
            self._stdin.flush()

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        stdout: Path,
        stderr: Path,
        timeout: float,
    ) -> Finished | None:
        """Run one command; None when it outlived ``timeout`` (it is then killed)."""
        future: Future[Finished] = Future()
        with self._lock:
            ident = self._next
            self._next += 1
            self._waiting[ident] = future
        self._send(
            {
                "id": ident,
                "args": list(args),
                "cwd": str(cwd),
                "env": dict(env),
                "stdout": str(stdout),
                "stderr": str(stderr),
            }
        )
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            self._send({"kill": ident})
            future.result(timeout=30)
            return None

    def close(self) -> None:
        self._stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()


_server: ForkServer | None = None
_server_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get("MAILAUTH_HOSTILE_FORK", "1") != "0"


def server() -> ForkServer:
    """The shared server, started on first use."""
    global _server
    with _server_lock:
        if _server is None:
            _server = ForkServer()
        return _server


def shutdown() -> None:
    global _server
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None

"""Run one function in a forked child while this process goes on: two cores for one plan.

A plan of thousands of zones spends about a second on the policy rules and as long on
rendering and comparing files, and neither needs the other. The child starts as a copy
of this process (fork: nothing to import, nothing to send), runs the function, and sends
back its result, pickled, through a pipe. MAILAUTH_PURE=1 (schema/fastpaths.py) keeps the
rules in this process; tests/test_forked_gate.py compares the two.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from mailauth.schema import fastpaths
from mailauth.schema.errors import MailauthError

T = TypeVar("T")


def can_fork() -> bool:
    """The fast paths are on (schema/fastpaths.py), fork is there, and no other thread runs
    (a forked copy of a lock held by one could never be released in the child)."""
    return fastpaths.enabled() and hasattr(os, "fork") and threading.active_count() == 1


class Forked(Generic[T]):
    """``fn()`` running in a child process; ``result()`` returns it or raises its error.

    A MailauthError (a ConfigError, a PlanError...) crosses over as such. Anything else
    that goes wrong in the child (an unexpected error, a result that does not pickle)
    makes ``result()`` call ``fn()`` here, so that the error shows exactly as it would
    have without the child.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self.fn = fn
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
            try:
                os.close(read)
                try:
                    payload: tuple[str, object] = ("ok", fn())
                except MailauthError as exc:
                    payload = ("error", exc)
                data = pickle.dumps(payload)
                with os.fdopen(write, "wb") as out:
                    out.write(data)
            finally:
                os._exit(0)  # no atexit handlers, no flushing of the parent's buffers
        os.close(write)
        self.pid = pid
        self.read = read

    def result(self) -> T:
        with os.fdopen(self.read, "rb") as source:
            data = source.read()
        os.waitpid(self.pid, 0)
        try:
            kind, value = pickle.loads(data)
        except Exception:  # the child failed before it could answer
            return self.fn()
        if kind == "error":
            raise value
        return cast(T, value)  # unpickled: what fn() returned in the child

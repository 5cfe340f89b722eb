"""Ports and polling."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port(address: str = "127.0.0.1") -> int:
    """A port that is free for both TCP and UDP on ``address`` right now.

    DNS servers listen on both, so a port free for TCP only is not good enough. Another
    process may still take it before the caller binds it; servers started on a port from
    here should retry with a new one when the bind fails (:class:`NamedServer` does).
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
        return port
    raise RuntimeError(f"no port free for both TCP and UDP on {address}")


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.05,
    give_up: Callable[[], bool] | None = None,
) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds pass (False).

    ``give_up`` is polled too; when it turns true the wait ends early with False (say, the
    server process died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if give_up is not None and give_up():
            return False
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)

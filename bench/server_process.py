"""A server process for a benchmark: a free loopback port, and a process that is up once its port answers and
is stopped (SIGTERM, then kill) when the block ends. Shared by the benches that run gunicorn."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def process_serving(server: subprocess.Popen, port: int, *, start_seconds: float = 60) -> Iterator[subprocess.Popen]:
    """`server` once 127.0.0.1:`port` accepts connections; RuntimeError if it exits or is not up in time."""
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

"""The process helpers of the tests that start real servers: a free loopback port, waiting for ``/readyz``, and
stopping a server by its process id (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import uvicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[Any], timeout: float = 90, log: Path | None = None) -> None:
    """Until the server on ``port`` answers ``/readyz`` with 200; failing with its output (its pipe, or the ``log``
    file it writes to) if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output: IO[Any] | None = process.stdout
            said = log.read_text() if log is not None else output.read() if output else ""
            raise AssertionError(f"the server exited early: {said}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server on port {port} did not become ready in {timeout:.0f} s")


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server the test started, by its PID: SIGTERM, then SIGKILL after 15 s; its output pipe closed."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def serving_in_thread(app: Any, port: int) -> Iterator[None]:
    """``app`` served by uvicorn on loopback ``port`` in a thread of this process until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the node did not start within 10 s"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)

"""Issue 5, done when: `mais demo` seeds and serves a node, and the three `mais enquire` commands it prints give
PERMIT, DENY and REVIEW, each with its audit trail. Real processes, real HTTP on loopback."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mais demo exited early: {process.stdout.read() if process.stdout else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the demo node did not become ready")


@pytest.fixture
def demo(tmp_path: Path) -> tuple[int, Path, subprocess.Popen[str]]:
    port = free_port()
    env = {**os.environ, "MAIS_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mais_node",
            "demo",
            "--port",
            str(port),
            "--people",
            "300",
            "--store",
            f"sqlite:///{tmp_path / 'demo.db'}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(port, process)
        yield port, tmp_path, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def printed_commands(process: subprocess.Popen[str]) -> dict[str, list[str]]:
    """The `# expect X` / command pairs the demo printed before it started serving."""
    assert process.stdout is not None
    commands: dict[str, list[str]] = {}
    expect = None
    while len(commands) < 3:
        line = process.stdout.readline()
        assert line, "the demo printed fewer than three commands"
        if line.strip().startswith("# expect"):
            expect = line.split()[-1]
        elif expect and "mais enquire" in line:
            argv = shlex.split(line.strip())
            commands[expect] = [sys.executable, "-m", "mais_node", *argv[1:]]
            expect = None
    return commands


def test_the_demo_answers_permit_deny_and_review_each_with_its_audit_trail(
    demo: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    _, workdir, process = demo
    commands = printed_commands(process)
    results = {
        name: subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=60)
        for name, argv in commands.items()
    }
    assert results["PERMIT"].returncode == 0, results["PERMIT"].stdout + results["PERMIT"].stderr
    assert results["PERMIT"].stdout.startswith("PERMITTED: match=True open=True contact=")
    assert results["DENY"].returncode == 1
    assert results["DENY"].stdout.startswith("DENIED (403)")
    assert results["REVIEW"].returncode == 0
    assert results["REVIEW"].stdout.startswith("REFERRED for review")
    verified = subprocess.run(
        [sys.executable, "-m", "mais_node", "audit", "verify", "--store", f"sqlite:///{workdir / 'demo.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified" in verified.stdout
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "mais_node",
            "audit",
            "export",
            "--format",
            "csv",
            "--out",
            "-",
            "--store",
            f"sqlite:///{workdir / 'demo.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    trail = export.stdout
    for subtype in ("enquiry-received", "disclose", "decision permit", "decision deny", "decision review"):
        assert subtype in trail, subtype

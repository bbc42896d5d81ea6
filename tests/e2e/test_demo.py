"""Issue 5, done when: `mais demo` seeds and serves a node, and the three `mais enquire` commands it prints give
PERMIT, DENY and REVIEW, each with its audit trail. Real processes, real HTTP on loopback."""

from __future__ import annotations

import json
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


def printed_roles(process: subprocess.Popen[str]) -> dict[str, tuple[str, str]]:
    """After the enquiries, what each key file is for and the one command the demo printed for it, by file name."""
    assert process.stdout is not None
    roles: dict[str, tuple[str, str]] = {}
    said = None
    while len(roles) < 2:
        line = process.stdout.readline()
        assert line, "the demo did not say what reviewer.json and auditor.json are for"
        text = line.strip()
        if text.startswith("# ") and ".json: " in text:
            said = text[2:]
        elif said and text:
            roles[Path(said.split(":")[0]).name] = (said, text)
            said = None
    return roles


@pytest.mark.slow
def test_the_demo_says_what_the_reviewer_and_auditor_files_are_for_and_their_commands_work(
    demo: tuple[int, Path, subprocess.Popen[str]],
) -> None:
    """Issue 12 items 13 and 19: the REVIEW enquiry followed with --wait is decided with the printed mais review
    command; the printed auditor's search finds the person's records."""
    _, workdir, process = demo
    commands = printed_commands(process)
    roles = printed_roles(process)
    assert set(roles) == {"reviewer.json", "auditor.json"}
    assert "IG officer" in roles["reviewer.json"][0]
    assert "auditor" in roles["auditor.json"][0]

    waiting = subprocess.Popen(
        [*commands["REVIEW"], "--wait", "--wait-seconds", "60"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        review_list = [sys.executable, "-m", "mais_node", *shlex.split(roles["reviewer.json"][1])[1:]]
        listed = ""
        for _ in range(50):
            listed = subprocess.run(review_list, cwd=workdir, capture_output=True, text=True, timeout=60).stdout
            if listed.strip() and not listed.startswith("no enquiries"):
                break
            time.sleep(0.2)
        task_id = listed.split()[0]
        decide = [*review_list[:3], "review", "decide", task_id, *review_list[5:]]
        decided = subprocess.run(
            [*decide, "--decision", "permit", "--reason", "s11 duty; checked"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert decided.returncode == 0, decided.stdout + decided.stderr
        out, _ = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(timeout=5)
    assert waiting.returncode == 0, out
    assert out.startswith("REFERRED for review: poll http://127.0.0.1:")
    assert "PERMITTED after review: match=True" in out

    line = roles["auditor.json"][1].replace(".venv/bin/mais", f"{sys.executable} -m mais_node")
    searched = subprocess.run(["bash", "-c", line], cwd=workdir, capture_output=True, text=True, timeout=60)
    bundle = json.loads(searched.stdout)
    assert bundle["resourceType"] == "Bundle"
    assert any(e["search"]["mode"] == "match" for e in bundle["entry"])

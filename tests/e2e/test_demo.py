"""Issue 5, done when: `mais demo` seeds and serves a node, and the three `mais enquire` commands it prints give
PERMIT, DENY and REVIEW, each with its audit trail. Real processes, real HTTP on loopback."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port, stop, wait_ready


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
        stop(process)


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

    line = re.sub(r"\$\(\S+ token ", f"$({sys.executable} -m mais_node token ", roles["auditor.json"][1])
    searched = subprocess.run(["bash", "-c", line], cwd=workdir, capture_output=True, text=True, timeout=60)
    bundle = json.loads(searched.stdout)
    assert bundle["resourceType"] == "Bundle"
    assert any(e["search"]["mode"] == "match" for e in bundle["entry"])


def read_until(process: subprocess.Popen[str], wanted: str, limit: int = 200, within: float = 30) -> list[str]:
    """The demo's output lines up to and including the first that holds ``wanted``; the demo is stopped if that
    line has not come ``within`` seconds, so a demo that never prints it fails the test instead of hanging it."""
    assert process.stdout is not None
    lines: list[str] = []
    watchdog = threading.Timer(within, process.kill)
    watchdog.start()
    try:
        while len(lines) < limit:
            line = process.stdout.readline()
            assert line, f"the demo's output ended before {wanted!r}: {''.join(lines)}"
            lines.append(line)
            if wanted in line:
                return lines
    finally:
        watchdog.cancel()
    raise AssertionError(f"no {wanted!r} in the demo's first {limit} lines: {''.join(lines)}")


@pytest.mark.slow
def test_the_demo_names_its_store_in_one_line_to_paste_and_logs_each_request(
    demo: tuple[int, Path, subprocess.Popen[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    port, _, process = demo
    printed = read_until(process, "export MAIS_STORE=")
    assert "first run only" in printed[0]
    assert "a minute or so" not in "".join(printed)
    paste = printed[-1].strip()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    listed = subprocess.run(
        ["bash", "-c", f"{paste} && {shlex.quote(sys.executable)} -m mais_node client list"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "MAIS_STORE"},
    )
    assert listed.returncode == 0, listed.stderr
    assert "LA0001" in listed.stdout
    assert not (elsewhere / "var").exists()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fhir/metadata", timeout=10) as response:
        assert response.status == 200
    assert "GET /fhir/metadata 200" in read_until(process, "/fhir/metadata")[-1]


@pytest.mark.slow
def test_a_restarted_demo_says_it_is_already_seeded(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    for run in ("first", "again"):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "mais_node", "demo", "--port", str(port), "--people", "100", "--store", store],
            cwd=tmp_path,
            env={**os.environ, "MAIS_BASE_URL": f"http://127.0.0.1:{port}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_ready(port, process)
            head = "".join(read_until(process, "mais-node demo at"))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            if process.stdout is not None:
                process.stdout.close()
        if run == "first":
            assert "100 synthetic people, first run only" in head
            assert "seeded in" in head
        else:
            assert "synthetic people" not in head
            assert f"already seeded: {store}" in head

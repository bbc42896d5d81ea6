"""``mais demo --network`` on a fresh directory (issue 15 item 8): the network comes up, the printed single view
shows KNOWN at two partners with contacts, NOT_KNOWN, DECLINED, PENDING_REVIEW, TIMED_OUT (and ERROR, NOT_ASKED);
the printed review commands decide the pending one and the running view's row changes; SIGTERM stops every node."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
MAIS = [sys.executable, "-m", "mais_node"]


def free_run(length: int) -> int:
    """A first port of ``length`` consecutive free loopback ports."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + length < 65535 and all(_free(first + i) for i in range(length)):
            return first
    pytest.fail("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def printed(command: str) -> list[str]:
    """A command the demo printed, run with this interpreter instead of .venv/bin/mais."""
    words = shlex.split(command)
    assert words[0] == ".venv/bin/mais"
    return [*MAIS, *words[1:]]


def test_the_network_demo_and_its_printed_commands(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")}
    out = tmp_path / "demo.log"
    with out.open("wb") as log:
        demo = subprocess.Popen(
            [*MAIS, "demo", "--network", "--port", str(free_run(10))],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while "Ctrl-C stops every node." not in out.read_text():
            assert demo.poll() is None, out.read_text()
            assert time.monotonic() - started < 120, out.read_text()
            time.sleep(0.5)
        lines = out.read_text().splitlines()
        single_view = next(line.strip() for line in lines if "mais single-view" in line)
        review_list = next(line.strip() for line in lines if "mais review list" in line)
        review_decide = next(line.strip() for line in lines if "mais review decide" in line)

        view = subprocess.Popen(
            [*printed(single_view), "--wait-seconds", "40"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert view.stdout is not None
        rows: dict[str, str] = {}
        while len(rows) < 9:  # every member's row, and the authority's
            line = view.stdout.readline()
            assert line, "the single view ended early"
            rows[line.split()[0]] = line
        states = {ods: line.split()[1] for ods, line in rows.items()}
        assert states == {
            "POL001": "KNOWN",
            "HV0001": "KNOWN",
            "GP0001": "NOT_KNOWN",
            "SCH001": "DECLINED",
            "LA0002": "PENDING_REVIEW",
            "CAM001": "TIMED_OUT",
            "YJS001": "ERROR",
            "POL002": "NOT_ASKED",
            "AUTH01": "NOT_ASKED",
        }, rows
        assert "contact: Safeguarding Hub 0113 241 3456" in rows["POL001"]
        assert "contact: Health Visiting 0113 843 4400" in rows["HV0001"]

        pending = subprocess.run(
            printed(review_list), cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        )
        task_id = pending.stdout.split()[0]
        decide = review_decide.replace("<id>", task_id)
        subprocess.run(printed(decide), cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        rest, _ = view.communicate(timeout=60)
        assert view.returncode == 0
        assert any(line.startswith("LA0002") and " KNOWN " in line for line in rest.splitlines()), rest
        assert "pending: none" in rest

        # The printed question narrowed to Bradford (ONS E08000032): only the partners serving it are asked.
        in_bradford = next(line.strip() for line in lines if "mais single-view" in line and "--area" in line)
        narrowed = subprocess.run(
            printed(in_bradford), cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60
        ).stdout
        states = {line.split()[0]: line.split()[1] for line in narrowed.splitlines() if line[:1].isupper()}
        assert {ods for ods, state in states.items() if state != "NOT_ASKED"} == {"POL001", "LA0002"}, narrowed
        assert states["POL001"] == "KNOWN", narrowed
        assert "does not serve area E08000032" in next(
            line for line in narrowed.splitlines() if line.startswith("HV0001")
        )
    finally:
        if demo.poll() is None:
            os.kill(demo.pid, signal.SIGTERM)
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(demo.pid, signal.SIGKILL)
                demo.wait(timeout=10)
    assert demo.returncode == 0, out.read_text()

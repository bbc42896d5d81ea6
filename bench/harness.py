"""Benchmark plumbing: start servers on loopback, drive them with wrk, read its figures.

Load comes from wrk (Debian package ``wrk``), a real load generator in its own process, over loopback only,
bounded in time (``-d``) and connections (``-c``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass(frozen=True)
class LoadResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    assert found, "wrk could not be installed"
    return found


def wait_ready(port: int, path: str = "/healthz", timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not become ready")


@contextmanager
def server(args: Sequence[str], port: int, env: dict[str, str] | None = None, ready: str = "/healthz") -> Iterator[int]:
    """Run a server process until the block ends; yield its pid."""
    process = subprocess.Popen(
        list(args),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, ready)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    name: str,
    url: str,
    *,
    script: str | None = None,
    env: dict[str, str] | None = None,
    connections: int = 16,
    seconds: int = 10,
    threads: int = 1,
) -> LoadResult:
    """Drive ``url`` for ``seconds`` with ``connections`` open connections; wrk's own figures."""
    command = [ensure_wrk(), "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    script_file = None
    if script is not None:
        script_file = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
        script_file.write(script)
        script_file.close()
        command += ["-s", script_file.name]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout
    if script_file is not None:
        os.unlink(script_file.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return LoadResult(name, rps, p50, p99, errors, total)


def lua_pick(method: str, path_prefix: str, values_file: Path, body: str | None = None) -> str:
    """A wrk script: each request takes a random line of ``values_file`` appended to ``path_prefix``."""
    body_lua = "nil" if body is None else "[[" + body + "]]"
    return f"""
local values = {{}}
for line in io.lines("{values_file}") do values[#values + 1] = line end
local headers = {{}}
headers["Content-Type"] = "application/fhir+json"
local token = os.getenv("BENCH_TOKEN")
if token then headers["Authorization"] = "Bearer " .. token end
math.randomseed(os.time())
request = function()
  return wrk.format("{method}", "{path_prefix}" .. values[math.random(#values)], headers, {body_lua})
end
"""


def lua_post(path: str, body: str) -> str:
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
local token = os.getenv("BENCH_TOKEN")
if token then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.body = [[{body}]]
wrk.path = "{path}"
"""

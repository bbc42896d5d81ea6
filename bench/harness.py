"""Benchmark plumbing: start servers on loopback, drive them with wrk, read its figures.

Load comes from wrk (Debian package ``wrk``), a real load generator in its own process, over loopback only,
bounded in time (``-d``) and connections (``-c``). wrk keeps a fixed number of connections busy (closed loop): the
offered load is stepped by the number of connections, and its latencies are those of the requests it sent.
Every script counts 4xx and 5xx answers and bodies saying "locked" (SQLite's "database is locked").
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The node's per-client rate limit (600 a minute by default) would answer 429 to a benchmark: lifted, never off.
# Every load generator connects from 127.0.0.1, as a proxy's clients would: the per-address connection cap (64)
# would refuse wrk's 64-connection step, so it is lifted too (the slow-loris stage sets its default back).
NODE_ENV = {
    "MAIS_RATE_LIMIT_REQUESTS": "1000000000",
    "MAIS_LOG_LEVEL": "WARNING",
    "MAIS_MAX_CONNECTIONS_PER_ADDRESS": "1000",
}


@dataclass(frozen=True)
class LoadResult:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    connections: int = 16
    seconds: int = 10
    status_4xx: int = 0
    status_5xx: int = 0
    locked: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def wait_ready(port: int, path: str = "/healthz", timeout: float = 600) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not become ready within {timeout:.0f} s")


@dataclass
class Running:
    pid: int
    port: int
    log: Path | None
    started_in: float

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """Resident memory of the server and all its worker processes."""
        return sum(rss_mb(pid) for pid in [self.pid, *children(self.pid)])

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


@contextmanager
def server(
    args: Sequence[str],
    port: int,
    env: dict[str, str] | None = None,
    ready: str = "/healthz",
    log: Path | None = None,
    python_path: bool = True,
    ready_timeout: float = 600,
) -> Iterator[Running]:
    """Run a server process until the block ends; its stderr goes to ``log`` (to grep for errors)."""
    started = time.perf_counter()
    sink: IO[bytes] | int = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    extra = {"PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"} if python_path else {}
    process = subprocess.Popen(
        list(args),
        cwd=ROOT,
        env={**os.environ, **extra, **(env or {})},
        stdout=sink,
        stderr=sink,
    )
    try:
        wait_ready(port, ready, ready_timeout)
        yield Running(process.pid, port, log, time.perf_counter() - started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            sink.close()  # type: ignore[union-attr]


def children(pid: int) -> list[int]:
    found = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(path.parent.name))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


COUNTERS = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
status_4xx, status_5xx, locked = 0, 0, 0
function response(status, headers, body)
  if status >= 500 then status_5xx = status_5xx + 1 elseif status >= 400 then status_4xx = status_4xx + 1 end
  if body and string.find(body, "locked", 1, true) then locked = locked + 1 end
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do a = a + t:get("status_4xx"); b = b + t:get("status_5xx"); c = c + t:get("locked") end
  io.write(string.format("BENCH 4xx=%d 5xx=%d locked=%d\\n", a, b, c))
end
"""


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
    command = [ensure_wrk(), "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script_file:
        script_file.write((script or "") + COUNTERS)
    command += ["-s", script_file.name]
    try:
        out = subprocess.run(
            [*command, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
        ).stdout
    finally:
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
    counted = re.search(r"BENCH 4xx=(\d+) 5xx=(\d+) locked=(\d+)", out)
    s4, s5, locked = (int(g) for g in counted.groups()) if counted else (0, 0, 0)
    return LoadResult(name, rps, p50, p99, errors, total, connections, seconds, s4, s5, locked)


def _headers(token_env: str = "BENCH_TOKEN") -> str:  # noqa: S107 - names a variable
    return f"""
local headers = {{}}
headers["Content-Type"] = "application/fhir+json"
local token = os.getenv("{token_env}")
if token then headers["Authorization"] = "Bearer " .. token end
"""


def lua_pick(method: str, path_prefix: str, values_file: Path, body: str | None = None) -> str:
    """A wrk script: each request takes a random line of ``values_file`` appended to ``path_prefix``."""
    body_lua = "nil" if body is None else "[[" + body + "]]"
    return f"""
local values = {{}}
for line in io.lines("{values_file}") do values[#values + 1] = line end
{_headers()}
math.randomseed(os.time())
request = function()
  return wrk.format("{method}", "{path_prefix}" .. values[math.random(#values)], headers, {body_lua})
end
"""


def lua_post(path: str, body: str) -> str:
    return f"""
{_headers()}
request = function()
  return wrk.format("POST", "{path}", headers, [[{body}]])
end
"""


def lua_bodies(path: str, bodies_file: Path) -> str:
    """A wrk script: each request POSTs a random line of ``bodies_file`` (one JSON document a line)."""
    return f"""
local bodies = {{}}
for line in io.lines("{bodies_file}") do bodies[#bodies + 1] = line end
{_headers()}
math.randomseed(os.time())
request = function()
  return wrk.format("POST", "{path}", headers, bodies[math.random(#bodies)])
end
"""

"""The governed enquiry under load (issues 5, 6 and 7 §2): ``$person-info-query`` with a token already held
(rules, matching, durable audit), the load held by stepping the connections, and a soak of mixed traffic.

Run as part of ``python -m bench.run`` (``make bench``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import LoadResult, Running, lua_bodies, wrk
from bench.seed import Client, token, token_form, token_url

OPERATION = "/fhir/Patient/$person-info-query"
HELD_P99_MS = 100.0


def enquiries(running: Running, la: Client, bodies: Path, seconds: int, name: str, connections: int = 16) -> LoadResult:
    """The enquiry at ``connections`` concurrent clients, with a fresh token held for the whole run."""
    env = {"BENCH_TOKEN": token(running.base, la)}
    script = lua_bodies(OPERATION, bodies)
    return wrk(name, running.base, script=script, env=env, connections=connections, seconds=seconds)


@dataclass
class Held:
    workers: int
    steps: list[LoadResult]

    @property
    def best(self) -> LoadResult | None:
        """The step with the highest throughput whose p99 stayed within 100 ms without errors."""
        good = [s for s in self.steps if s.p99_ms <= HELD_P99_MS and s.errors == 0]
        return max(good, key=lambda s: s.rps, default=None)


def load_held(running: Running, la: Client, bodies: Path, workers: int, connections: list[int], seconds: int) -> Held:
    """Step the offered load (open connections) upwards; stop once p99 is well past the bound."""
    held = Held(workers, [])
    env = {"BENCH_TOKEN": token(running.base, la)}
    for count in connections:
        step = wrk(
            f"{workers} worker(s), {count} connections",
            running.base,
            script=lua_bodies(OPERATION, bodies),
            env=env,
            connections=count,
            seconds=seconds,
        )
        held.steps.append(step)
        if step.p99_ms > 3 * HELD_P99_MS:
            break
    return held


def mixed_script(bodies: Path, forms: Path, audit_paths: Path, token_path: str) -> str:
    """Enquiries (85%), auditor searches (10%) and token requests (5%, each with a fresh assertion)."""
    return f"""
local function lines(file)
  local out = {{}}
  for line in io.lines(file) do out[#out + 1] = line end
  return out
end
local bodies, forms, audits = lines("{bodies}"), lines("{forms}"), lines("{audit_paths}")
local next_form = 1
local enquiry_headers = {{["Content-Type"] = "application/fhir+json",
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")}}
local audit_headers = {{["Authorization"] = "Bearer " .. os.getenv("BENCH_AUDIT_TOKEN")}}
local form_headers = {{["Content-Type"] = "application/x-www-form-urlencoded"}}
math.randomseed(os.time())
request = function()
  local r = math.random()
  if r < 0.05 and next_form <= #forms then
    next_form = next_form + 1
    return wrk.format("POST", "{token_path}", form_headers, forms[next_form - 1])
  elseif r < 0.15 then
    return wrk.format("GET", audits[math.random(#audits)], audit_headers)
  end
  return wrk.format("POST", "{OPERATION}", enquiry_headers, bodies[math.random(#bodies)])
end
"""


@dataclass
class Soak:
    workers: int
    segments: list[LoadResult] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    seconds: int = 0

    @property
    def growth(self) -> float:
        """Resident memory growth from the end of the first segment (warm-up) to the end."""
        if len(self.rss_mb) < 2 or self.rss_mb[0] == 0:
            return 0.0
        return self.rss_mb[-1] / self.rss_mb[0] - 1

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.segments)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.segments)


def soak(
    running: Running,
    la: Client,
    auditor: Client,
    bodies: Path,
    nhs_numbers: list[str],
    work: Path,
    *,
    segments: int,
    seconds: int,
    workers: int,
) -> Soak:
    """Mixed traffic at 16 connections for ``segments`` x ``seconds``; new tokens and assertions per segment."""
    result = Soak(workers, seconds=segments * seconds)
    url = token_url(running.base)
    today = datetime.now(UTC).date().isoformat()
    audit_paths = work / "audit_paths.txt"
    searches = [f"/fhir/AuditEvent?agent={la_ods(la)}&date=ge{today}&_sort=-date&_count=20"]
    searches += [f"/fhir/AuditEvent?patient={nhs}&_count=20" for nhs in nhs_numbers[:200]]
    audit_paths.write_text("\n".join(searches))
    forms = work / "forms.txt"
    for number in range(segments):
        # ~5% of a few hundred requests a second are token requests, each needing an unused assertion (jti).
        forms.write_text("\n".join(token_form(la, url) for _ in range(max(100, seconds * 30))))
        env = {"BENCH_TOKEN": token(running.base, la), "BENCH_AUDIT_TOKEN": token(running.base, auditor)}
        script = mixed_script(bodies, forms, audit_paths, "/auth/token")
        started = time.perf_counter()
        segment = wrk(f"soak segment {number + 1}", running.base, script=script, env=env, seconds=seconds)
        result.segments.append(segment)
        result.rss_mb.append(running.rss_mb())
        print(
            f"  soak {number + 1}/{segments}: {segment.rps:.0f} req/s, p99 {segment.p99_ms:.1f} ms, "
            f"errors {segment.errors}, rss {result.rss_mb[-1]:.0f} MiB ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return result


def la_ods(client: Client) -> str:
    from mais_node.demo import LA

    return LA[0]

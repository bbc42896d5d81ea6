"""The governed enquiry's own cost on one worker at 100k people (issue 17): where its time goes, and old vs new.

    .venv/bin/python -m bench.bench_enquiry_cost prepare --people 100000          # the store, once (kept in --work)
    .venv/bin/python -m bench.bench_enquiry_cost profile --enquiries 4000         # in process: spans and cProfile
    .venv/bin/python -m bench.bench_enquiry_cost compare --base /work/wt/base/src --rounds 3 --seconds 15

``profile`` drives the node's ASGI app in this process (no socket, no uvicorn) at 16 enquiries in flight, on a copy
of the prepared store, with the audit trail as ``mais serve`` has it (durable, hash-chained, group commit): the CPU
time per enquiry (``time.process_time``: every thread, the audit writer's too) and where it goes, by timing spans
around the steps of the enquiry (the steps are wrapped here, in the benchmark, not in the node).

``compare`` runs ``mais serve`` (one worker) from two source trees, ``--base`` (e.g. a worktree of main) and this
one, alternately on fresh copies of the same store, each driven by wrk at 16 connections: enquiries/s, p50/p99
and the server's CPU time per enquiry (utime + stime of its process over the run, from ``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import io
import json
import os
import pickle
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import core, enquiry
from bench.harness import NODE_ENV, ROOT, free_port, server
from bench.seed import BenchStore, Client, enquiry_body
from mais_node.matching.synthetic import iter_population

SEED = 2027
BODIES = 5_000
WORK = ROOT / "var" / "bench-enquiry-cost"
OPERATION = "/fhir/Patient/$person-info-query"


# -- the store, prepared once ------------------------------------------------------------------------------------
def prepare(work: Path, people: int) -> None:
    """A node's SQLite file with ``people`` people (the durable person index written with them), its clients and
    enquiry bodies about every k-th person; reused by later runs."""
    work.mkdir(parents=True, exist_ok=True)
    db = work / "node.db"
    for stale in work.glob("node.db*"):
        stale.unlink()
    store = BenchStore(db, people)
    clients = store.register()
    every = max(1, people // BODIES)
    sample = []

    def population() -> Iterator[Any]:
        for number, record in enumerate(iter_population(people, seed=SEED)):
            if number % every == 0:
                sample.append(record)
            yield record

    took = store.add_people(population())
    (work / "clients.pickle").write_bytes(pickle.dumps(clients))
    (work / "bodies.ndjson").write_bytes(b"\n".join(enquiry_body(r) for r in sample[:BODIES]))
    print(f"prepared {people:,} people in {took:.0f} s in {work}")


def fresh_copy(work: Path, into: Path) -> Path:
    """A copy of the prepared file (its WAL folded in), so every run starts from the same trail."""
    target = into / "node.db"
    shutil.copyfile(work / "node.db", target)
    return target


def clients(work: Path) -> dict[str, Client]:
    loaded: dict[str, Client] = pickle.loads((work / "clients.pickle").read_bytes())  # noqa: S301 - written above
    return loaded


# -- in process: spans and cProfile --------------------------------------------------------------------------------
class Spans:
    """CPU time of the calling thread inside named steps, each without the named steps it calls (so they add up)."""

    def __init__(self) -> None:
        self.total: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        spans = self

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = spans._stack
            if stack and stack[-1] == label:
                return original(*args, **kwargs)  # a step calling itself (or a wrapped alias) is one step
            stack.append(label)
            started = time.thread_time_ns()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.thread_time_ns() - started
                stack.pop()
                spans.total[label] += took
                spans.calls[label] += 1
                if stack:
                    spans.total[stack[-1]] -= took

        setattr(owner, name, timed)


def instrument(spans: Spans) -> None:
    """Wrap the steps of the enquiry (in this benchmark's process only)."""
    from mais_node.adapters import cedar
    from mais_node.api.routes import enquiry as route
    from mais_node.audit import balp
    from mais_node.auth import bearer
    from mais_node.enquiry import gates, persons, records, review, service
    from mais_node.storage import sqlite
    from mais_node.terminology import runtime
    from mais_node.validation import validator

    spans.wrap(bearer.BearerValidator, "authenticate", "token check")
    spans.wrap(route, "parse_json", "parse (JSON)")
    spans.wrap(route, "from_parameters", "parse (Parameters)")
    spans.wrap(validator.Validator, "validate", "validation: profile (the subject)")
    spans.wrap(validator, "check_structure", "validation: R4 structure (fhir.resources)")
    spans.wrap(gates.Gates, "check", "gates: purpose, items, consent, agreements")
    spans.wrap(records.RegisterDirectory, "requester", "gates: the requester in the register")
    spans.wrap(runtime.Vocabularies, "__call__", "vocabularies in force (kept or pinned)")
    spans.wrap(sqlite.SqliteResourceStore, "latest_change", "change tokens (store look-up)")
    spans.wrap(cedar.CedarPolicyEngine, "decide", "decision rules (Cedar)")
    spans.wrap(persons.IndexedPersons, "match", "matching")
    spans.wrap(service.EnquiryService, "_release", "release (involvements, contact)")
    spans.wrap(review.TaskKeeper, "__call__", "referral: the Task stored")
    spans.wrap(service.EnquiryService, "_actor", "audit records (building)")
    for name in ("enquiry_received", "decision", "disclosure"):
        spans.wrap(balp, name, "audit records (building)")
    spans.wrap(route, "to_parameters", "response (Parameters)")
    spans.wrap(route, "fhir_response", "response (JSON)")


async def _asgi(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes, answer: bytearray | None = None
) -> int:
    """One request straight into the ASGI app; its status (and its body into ``answer``, when given)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif answer is not None and message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status


async def _token(app: Any, services: Any, la: Client) -> str:
    from urllib.parse import urlencode

    import orjson

    from mais_node.client import client_assertion

    form = urlencode(
        {
            "grant_type": "client_credentials",
            "scope": la.scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(la.client_id, services.auth.token_url, la.private),
        }
    ).encode()
    answer = bytearray()
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"host", b"127.0.0.1:8080")]
    status = await _asgi(app, "POST", "/auth/token", headers, form, answer)
    if status != 200:
        raise RuntimeError(f"token refused ({status}): {bytes(answer[:300])!r}")
    return str(orjson.loads(bytes(answer))["access_token"])


async def drive(
    work: Path, tmp: Path, count: int, in_flight: int, profiler: cProfile.Profile | None, spans: Spans | None = None
) -> dict[str, Any]:
    os.environ.update({**NODE_ENV, "MAIS_HOST": "127.0.0.1", "MAIS_PORT": "8080"})
    from mais_node.app import create_app
    from mais_node.config import Settings

    settings = Settings(store=f"sqlite:///{fresh_copy(work, tmp)}")
    app = create_app(settings)
    bodies = (work / "bodies.ndjson").read_bytes().splitlines()
    async with app.router.lifespan_context(app):
        services = app.state.services
        bearer = await _token(app, services, clients(work)["la"])
        headers = [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/fhir+json"),
            (b"accept", b"application/fhir+json"),
            (b"authorization", f"Bearer {bearer}".encode()),
        ]
        statuses: dict[int, int] = defaultdict(int)

        async def worker(offset: int, n: int) -> None:
            for i in range(n):
                body = bodies[(offset + i * in_flight) % len(bodies)]
                sized = [*headers, (b"content-length", b"%d" % len(body))]
                statuses[await _asgi(app, "POST", OPERATION, sized, body)] += 1

        await asyncio.gather(*(worker(k, 50) for k in range(in_flight)))  # warm-up: caches, the index's pages
        statuses.clear()
        if spans is not None:
            spans.total.clear()
            spans.calls.clear()
        per = count // in_flight
        writer = services.enquiries.grouped._thread
        writer_clock = time.pthread_getcpuclockid(writer.ident) if writer is not None and writer.ident else None
        writer_cpu = time.clock_gettime(writer_clock) if writer_clock is not None else 0.0
        cpu, wall, main = time.process_time(), time.perf_counter(), time.thread_time()
        if profiler is not None:
            profiler.enable()
        await asyncio.gather(*(worker(k + 50 * in_flight, per) for k in range(in_flight)))
        if profiler is not None:
            profiler.disable()
        cpu, wall, main = time.process_time() - cpu, time.perf_counter() - wall, time.thread_time() - main
        writer_cpu = (time.clock_gettime(writer_clock) - writer_cpu) if writer_clock is not None else 0.0
    n = per * in_flight
    return {
        "n": n,
        "cpu_us": cpu / n * 1e6,
        "main_us": main / n * 1e6,
        "writer_us": writer_cpu / n * 1e6,
        "wall_us": wall / n * 1e6,
        "statuses": dict(statuses),
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
    }


def profile(work: Path, count: int, in_flight: int, top: int, *, as_json: bool = False) -> None:
    spans = Spans()
    if not as_json:
        instrument(spans)
    with tempfile.TemporaryDirectory(prefix="mais-enqcost-") as tmp:
        plain = asyncio.run(drive(work, Path(tmp), count, in_flight, None, spans))
    if as_json:
        print(json.dumps(plain))
        return
    n = plain["n"]
    print(
        f"{n:,} enquiries, {in_flight} in flight: CPU {plain['cpu_us']:.0f} us/enquiry (event loop thread "
        f"{plain['main_us']:.0f}, audit writer thread {plain['writer_us']:.0f}), wall {plain['wall_us']:.0f} us"
    )
    print(f"statuses {plain['statuses']}")
    print("\n| step | CPU us per enquiry | calls per enquiry |\n| --- | ---: | ---: |")
    named = 0
    for label, ns in sorted(spans.total.items(), key=lambda kv: -kv[1]):
        named += ns
        print(f"| {label} | {ns / n / 1000:.0f} | {spans.calls[label] / n:.1f} |")
    writer = "audit write (the group-commit thread: seal, hash, compress, insert, commit)"
    print(f"| {writer} | {plain['writer_us']:.0f} | |")
    rest = plain["main_us"] - named / n / 1000
    print(f"| the rest on the event loop (framework, middleware, glue) | {rest:.0f} | |")
    print(f"| other threads | {plain['cpu_us'] - plain['main_us'] - plain['writer_us']:.0f} | |")
    if top:
        profiler = cProfile.Profile(time.thread_time)  # CPU time of the event loop thread, not waits for the GIL
        with tempfile.TemporaryDirectory(prefix="mais-enqcost-") as tmp:
            asyncio.run(drive(work, Path(tmp), count, in_flight, profiler))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        out.write("\n")
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
        print(out.getvalue())


# -- old vs new, through mais serve and wrk ------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(work: Path, src: Path, seconds: int, label: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mais-enqcost-") as tmp:
        db = fresh_copy(work, Path(tmp))
        port = free_port()
        url = f"sqlite:///{db}"
        env = {**core.node_env(port), "MAIS_STORE": url, "PYTHONPATH": f"{src}:{ROOT}"}
        with server(core.node_args(url, port), port, env=env, ready="/readyz", log=Path(tmp) / "server.log") as running:
            la = clients(work)["la"]
            enquiry.enquiries(running, la, work / "bodies.ndjson", 3, "warm-up")
            before = cpu_seconds(running.pid)
            result = enquiry.enquiries(running, la, work / "bodies.ndjson", seconds, label)
            used = cpu_seconds(running.pid) - before
    return {
        "label": label,
        "rps": result.rps,
        "p50": result.p50_ms,
        "p99": result.p99_ms,
        "errors": result.errors,
        "cpu_us": used / max(1, result.requests) * 1e6,
        "load": os.getloadavg()[0],
    }


def in_process_run(work: Path, src: Path, count: int, label: str) -> dict[str, Any]:
    """``profile`` without spans in a process of its own on the ``src`` tree: CPU per enquiry, no socket."""
    command = [sys.executable, "-m", "bench.bench_enquiry_cost", "profile", "--json", "--work", str(work)]
    done = subprocess.run(
        [*command, "--enquiries", str(count)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{src}:{ROOT}"},
        capture_output=True,
        text=True,
        check=True,
    )
    run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    n = run["n"]
    return {"label": label, "rps": n / (run["wall_us"] * n / 1e6), "p50": 0.0, "p99": 0.0, "errors": 0, **run}


def compare(work: Path, base: Path, rounds: int, seconds: int, in_process: int) -> None:
    here = ROOT / "src"
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for number in range(rounds):
        order = [("old", base), ("new", here)] if number % 2 == 0 else [("new", here), ("old", base)]
        for label, src in order:
            run = in_process_run(work, src, in_process, label) if in_process else one_run(work, src, seconds, label)
            run["load"] = os.getloadavg()[0]
            runs[label].append(run)
            print(
                f"round {number + 1} {label}: {run['rps']:.0f} enquiries/s, p50 {run['p50']:.1f} ms, p99 "
                f"{run['p99']:.1f} ms, CPU {run['cpu_us']:.0f} us/enquiry"
                + (f" (audit writer {run['writer_us']:.0f})" if "writer_us" in run else "")
                + (f", max RSS {run['max_rss_mib']:.0f} MiB" if "max_rss_mib" in run else "")
                + ", "
                f"errors {run['errors']}, "
                f"load {run['load']:.1f}",
                flush=True,
            )
    print("\n| | enquiries/s (median, range) | CPU us per enquiry (median, range) | p99 ms (median) |")
    print("| --- | --- | --- | --- |")
    for label, done in runs.items():
        rps = [r["rps"] for r in done]
        cpu = [r["cpu_us"] for r in done]
        p99 = [r["p99"] for r in done]
        print(
            f"| {label} | {statistics.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f}) | "
            f"{statistics.median(cpu):.0f} ({min(cpu):.0f}-{max(cpu):.0f}) | {statistics.median(p99):.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["prepare", "profile", "compare"])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--enquiries", type=int, default=4_000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--top", type=int, default=0, help="also cProfile the run and print the top N functions")
    parser.add_argument("--base", type=Path, help="compare: the source tree (src/) of the old node")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="profile: one line of JSON, no spans")
    parser.add_argument("--in-process", type=int, default=0, help="compare: N enquiries in process, not wrk")
    args = parser.parse_args()
    if args.what == "prepare":
        prepare(args.work, args.people)
    elif args.what == "profile":
        profile(args.work, args.enquiries, args.in_flight, args.top, as_json=args.json)
    else:
        if args.base is None:
            sys.exit("compare needs --base (the src/ directory of the old node)")
        compare(args.work, args.base, args.rounds, args.seconds, args.in_process)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()


# -- a stage of make bench -----------------------------------------------------------------------------------------
TARGET = 700  # governed enquiries/s on one worker at 100k people (issue 17)


def stage(people: int, seconds: int, enquiries: int) -> dict[str, Any]:
    """``make bench``: the store prepared once in var/ for ``people``, then this tree's node in process (CPU per
    enquiry, the audit writer's share) and through ``mais serve`` + wrk at 16 connections (enquiries/s, p99)."""
    work = ROOT / "var" / f"bench-enquiry-cost-{people}"
    if not (work / "bodies.ndjson").exists():  # written last: a store cut short is prepared again
        prepare(work, people)
    here = ROOT / "src"
    alone = in_process_run(work, here, enquiries, "in process")
    served = one_run(work, here, seconds, "mais serve + wrk")
    return {
        "people": people,
        "rps": served["rps"],
        "p50_ms": served["p50"],
        "p99_ms": served["p99"],
        "errors": served["errors"],
        "cpu_us": served["cpu_us"],
        "in_process_rps": alone["rps"],
        "in_process_cpu_us": alone["cpu_us"],
        "event_loop_us": alone["main_us"],
        "writer_us": alone["writer_us"],
        "load": os.getloadavg()[0],
    }

"""A large partner's node (issue 17): the same population at each size, through the node's own commands.

For each size: a synthetic NDJSON export (``matching/synthetic``, realistic errors in the enquiries), imported by
``mais person import``; the store's bytes per person; ``mais serve`` started on it and timed to ``/readyz``; the
governed enquiry at 16 clients (wrk) and the worker's resident memory; then, in this process on the same store, the
matching alone (the node's ``PersonMatcher``) and its quality on labelled enquiries. Where the population fits, the
in-memory index of before issue 17 is measured beside it (``bench/bench_matching.py`` in its own process).

    .venv/bin/python -m bench.bench_scale --people 100000 1000000 10000000
    .venv/bin/python -m bench.bench_scale --people 100000 --work var/bench-scale   # the files are kept and reused

Targets at 10M: import >= 20,000 people/s; ready <= 10 s; <= 1 GB per worker; matching p95 <= 10 ms, p99 <= 25 ms;
enquiry p99 <= 100 ms at 16 clients; 0 false certain and >= 0.95 of true matches probable or better.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from bench import core, enquiry
from bench.harness import ROOT, children, free_port, rss_mb, server
from bench.seed import BenchStore, Client, _rows, _team, enquiry_body
from mais_node.matching import PersonRecord
from mais_node.matching.synthetic import iter_population, noisy_queries

MAIS = str(Path(sys.executable).with_name("mais"))
SEED = 2027
SAMPLE = 20_000  # people kept aside (every k-th) to make labelled enquiries from
BODIES = 5_000  # enquiry bodies for wrk
IN_MEMORY_UP_TO = 1_000_000  # the old index is measured beside the new up to this size (about 800 MiB at 1M)


@dataclass
class Figures:
    people: int
    workers: int = 1  # ``mais serve --workers``: the enquiry's figures; the worker RSS is the largest one's
    rows: int = 0
    generate_s: float = 0.0
    import_s: float = 0.0
    import_people_per_s: float = 0.0
    import_peak_rss_mib: float = 0.0
    disk_bytes: int = 0
    bytes_per_person: float = 0.0
    ready_s: float = 0.0
    worker_rss_mib: float = 0.0
    enquiry_rps: float = 0.0
    enquiry_p50_ms: float = 0.0
    enquiry_p99_ms: float = 0.0
    enquiry_errors: int = 0
    # CPU seconds each worker used during the second run (``--workers``): how wrk's 16 connections fell between them.
    worker_cpu_s: list[float] = field(default_factory=list)
    # The first run after the node starts, reading its pages from disk; the figures above are the second run's.
    enquiry_first_rps: float = 0.0
    enquiry_first_p99_ms: float = 0.0
    match_first_p95_ms: float = 0.0
    match_first_p99_ms: float = 0.0
    match_p50_ms: float = 0.0
    match_p95_ms: float = 0.0
    match_p99_ms: float = 0.0
    match_process_rss_mib: float = 0.0
    queries: int = 0
    false_certain: int = 0
    probable_or_better: float = 0.0
    in_memory: dict[str, str] = field(default_factory=dict)


def export(path: Path, people: int) -> tuple[list[PersonRecord], int]:
    """Write the population as NDJSON (the team first, then each Patient and one open episode in ten); return a
    sample of the people, every k-th, and the number of rows written."""
    every = max(1, people // SAMPLE)
    sample: list[PersonRecord] = []
    rows = 0
    with path.open("wb") as out:
        out.write(orjson.dumps(_team()) + b"\n")
        rows += 1
        for number, record in enumerate(iter_population(people, seed=SEED)):
            if number % every == 0:
                sample.append(record)
            for _, body in _rows(record, number):
                out.write(orjson.dumps(body) + b"\n")
                rows += 1
    return sample, rows


def exported(ndjson: Path, people: int) -> tuple[list[PersonRecord], int, float]:
    """The export and its sample, written once and reused by later runs (generating 10M people takes a while)."""
    kept = ndjson.with_suffix(".sample.pickle")
    if ndjson.exists() and kept.exists():
        sample, rows, took = pickle.loads(kept.read_bytes())  # noqa: S301 - written by this script, just above
        return sample, rows, took
    started = time.perf_counter()
    sample, rows = export(ndjson, people)
    took = time.perf_counter() - started
    kept.write_bytes(pickle.dumps((sample, rows, took)))
    return sample, rows, took


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_import(store: BenchStore, ndjson: Path) -> tuple[float, float, str]:
    """``mais person import`` in its own process: seconds, the process's peak RSS (MiB) and its last line."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [MAIS, "person", "import", str(ndjson), "--store", store.url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "MAIS_LOG_LEVEL": "WARNING"},
    )
    out, err = process.communicate()
    took = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"mais person import failed: {err.decode(errors='replace')[-2000:]}")
    last = (out.decode() + err.decode()).strip().splitlines()[-1:]
    return took, usage.ru_maxrss / 1024, last[0] if last else ""


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def serve_and_enquire(store: BenchStore, figures: Figures, bodies: Path, la: Client, work: Path, seconds: int) -> None:
    port = free_port()
    env = {**core.node_env(port), "MAIS_STORE": store.url}
    args = core.node_args(store.url, port, figures.workers)
    with server(args, port, env=env, ready="/readyz", log=work / "server.log", ready_timeout=1800) as running:
        figures.ready_s = running.started_in
        first = enquiry.enquiries(running, la, bodies, seconds, f"enquiry, first run ({figures.people:,} people)")
        workers = children(running.pid) if figures.workers > 1 else [running.pid]
        cpu = [cpu_s(pid) for pid in workers]
        result = enquiry.enquiries(running, la, bodies, seconds, f"enquiry, second run ({figures.people:,} people)")
        figures.worker_rss_mib = max(rss_mb(pid) for pid in workers)
        figures.worker_cpu_s = [round(cpu_s(pid) - before, 2) for pid, before in zip(workers, cpu, strict=True)]
    figures.enquiry_first_rps, figures.enquiry_first_p99_ms = first.rps, first.p99_ms
    figures.enquiry_rps, figures.enquiry_p50_ms, figures.enquiry_p99_ms = result.rps, result.p50_ms, result.p99_ms
    figures.enquiry_errors = result.errors


def matching(store: BenchStore, figures: Figures, sample: list[PersonRecord], queries: int) -> None:
    """The node's matcher on the imported store, in this process: latency and quality on labelled enquiries."""
    from mais_node.config import Settings
    from mais_node.matching.fhir_patient import to_fhir_patient
    from mais_node.matching.grades import Grade
    from mais_node.wiring import build_services

    labelled = noisy_queries(sample, queries, seed=SEED + 1)
    services = build_services(Settings(store=store.url))
    try:
        services.persons.match(to_fhir_patient(labelled[0].query))  # opens what the matcher reads
        subjects = [to_fhir_patient(item.query) for item in labelled]
        first: list[float] = []
        for subject in subjects:  # the first pass: each page is read in where it is first touched
            started = time.perf_counter()
            services.persons.match(subject)
            first.append((time.perf_counter() - started) * 1000)
        latencies: list[float] = []
        false_certain = true_matches = probable = 0
        for item, subject in zip(labelled, subjects, strict=True):
            started = time.perf_counter()
            found = services.persons.match(subject)
            latencies.append((time.perf_counter() - started) * 1000)
            grade = Grade(found.grade.value)
            right = found.person_id == item.expected_id
            if grade is Grade.CERTAIN and not right:
                false_certain += 1
            if item.expected_id is not None:
                true_matches += 1
                probable += right and grade.at_least(Grade.PROBABLE)
        figures.match_process_rss_mib = rss_mib()
    finally:
        services.close()
    figures.queries = len(labelled)
    figures.match_first_p95_ms = percentile(first, 0.95)
    figures.match_first_p99_ms = percentile(first, 0.99)
    figures.match_p50_ms = percentile(latencies, 0.50)
    figures.match_p95_ms = percentile(latencies, 0.95)
    figures.match_p99_ms = percentile(latencies, 0.99)
    figures.false_certain = false_certain
    figures.probable_or_better = probable / true_matches if true_matches else 1.0


def in_memory(people: int, queries: int) -> dict[str, str]:
    """The index of before issue 17 (every person in each worker's memory), by bench_matching in its own process."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_matching",
            "--people",
            str(people),
            "--queries",
            str(queries),
            "--seed",
            str(SEED),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    wanted = ("build", "RSS", "match latency", "false certain", "probable+ share")
    return {line.split("  ")[0].strip(): line for line in done.stdout.splitlines() if line.startswith(wanted)}


def one_size(
    people: int,
    work: Path,
    queries: int,
    seconds: int,
    reuse: bool = False,
    workers: int = 1,
    enquiry_only: bool = False,
) -> Figures:
    """One population's figures; ``reuse``: measure again on the store a finished earlier run imported (its import
    figures are kept from that run's ``figures.json``); ``enquiry_only``: only the served enquiry, not the matching."""
    figures = Figures(people, workers)
    here = work / f"{people}"
    here.mkdir(parents=True, exist_ok=True)
    ndjson, db = here / "people.ndjson", here / "node.db"
    earlier = here / "figures.json"
    sample, figures.rows, figures.generate_s = exported(ndjson, people)
    if reuse and db.exists() and earlier.exists():
        kept = json.loads(earlier.read_text())
        for name in ("import_s", "import_people_per_s", "import_peak_rss_mib"):
            setattr(figures, name, kept[name])
        store = BenchStore(db, people)
        clients = store.register(again=True)
        print(f"[{people:,}] reusing the store imported earlier ({figures.import_people_per_s:,.0f}/s)", flush=True)
    else:
        for stale in here.glob("node.db*"):
            stale.unlink()
        print(f"[{people:,}] exported {figures.rows:,} rows in {figures.generate_s:.0f} s", flush=True)
        store = BenchStore(db, people)
        clients = store.register()
        figures.import_s, figures.import_peak_rss_mib, said = run_import(store, ndjson)
        figures.import_people_per_s = people / figures.import_s
        print(
            f"[{people:,}] imported in {figures.import_s:.0f} s ({figures.import_people_per_s:,.0f}/s): {said}",
            flush=True,
        )
    figures.disk_bytes = disk_bytes(db)
    figures.bytes_per_person = figures.disk_bytes / people

    bodies = here / "bodies.ndjson"
    bodies.write_bytes(b"\n".join(enquiry_body(r) for r in sample[:BODIES]))
    serve_and_enquire(store, figures, bodies, clients["la"], here, seconds)
    print(f"[{people:,}] ready in {figures.ready_s:.1f} s; enquiry p99 {figures.enquiry_p99_ms:.1f} ms", flush=True)
    if enquiry_only:
        return figures
    gc.collect()
    matching(store, figures, sample, queries)
    if people <= IN_MEMORY_UP_TO:
        figures.in_memory = in_memory(people, queries)
    return figures


def table(all_figures: list[Figures]) -> str:
    sizes = [f"{f.people:,}" for f in all_figures]
    lines = ["| figure | target (10M) | " + " | ".join(sizes) + " |", "| --- | --- |" + " --- |" * len(sizes)]

    def row(name: str, target: str, cells: Iterator[str]) -> None:
        lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")

    row("workers (`mais serve --workers`)", "", (str(f.workers) for f in all_figures))
    row("import, people/s", ">= 20,000", (f"{f.import_people_per_s:,.0f}" for f in all_figures))
    row("import peak RSS", "bounded", (f"{f.import_peak_rss_mib:,.0f} MiB" for f in all_figures))
    row("ready after start", "<= 10 s", (f"{f.ready_s:.1f} s" for f in all_figures))
    row("worker RSS after the enquiry load", "<= 1 GB", (f"{f.worker_rss_mib:,.0f} MiB" for f in all_figures))
    row("matching p95 / p99", "<= 10 / 25 ms", (f"{f.match_p95_ms:.2f} / {f.match_p99_ms:.2f} ms" for f in all_figures))
    row(
        "matching p95 / p99, first pass",
        "",
        (f"{f.match_first_p95_ms:.2f} / {f.match_first_p99_ms:.2f} ms" for f in all_figures),
    )
    row("enquiry p99, 16 clients", "<= 100 ms", (f"{f.enquiry_p99_ms:.1f} ms" for f in all_figures))
    row(
        "enquiry p99 and req/s, first run",
        "",
        (f"{f.enquiry_first_p99_ms:.1f} ms, {f.enquiry_first_rps:,.0f}/s" for f in all_figures),
    )
    row("enquiry req/s, 16 clients", "", (f"{f.enquiry_rps:,.0f} ({f.enquiry_errors} errors)" for f in all_figures))
    row("false certain", "0", (str(f.false_certain) for f in all_figures))
    row("true matches probable or better", ">= 0.95", (f"{f.probable_or_better:.4f}" for f in all_figures))
    row("disk, bytes per person", "reported", (f"{f.bytes_per_person:,.0f}" for f in all_figures))
    text = "\n".join(lines)
    old = [f for f in all_figures if f.in_memory]
    if old:
        text += "\n\nThe in-memory index of before (bench/bench_matching.py, same population, its own process):\n\n"
        for f in old:
            text += f"- {f.people:,} people: " + "; ".join(re.sub(r"\s+", " ", v) for v in f.in_memory.values()) + "\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[100_000])
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-scale")
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--seconds", type=int, default=20, help="wrk's run for the enquiry")
    parser.add_argument("--export-only", action="store_true", help="write the exports (kept in --work) and stop")
    parser.add_argument("--reuse", action="store_true", help="measure again on the stores an earlier run imported")
    parser.add_argument("--workers", type=int, default=1, help="mais serve's worker processes for the enquiry")
    parser.add_argument(
        "--enquiry-only", action="store_true", help="with --reuse: the served enquiry alone (one line, no figures file)"
    )
    args = parser.parse_args()
    results = []
    for people in args.people:
        if args.export_only:
            (args.work / f"{people}").mkdir(parents=True, exist_ok=True)
            exported(args.work / f"{people}" / "people.ndjson", people)
            continue
        load = os.getloadavg()[0]
        figures = one_size(people, args.work, args.queries, args.seconds, args.reuse, args.workers, args.enquiry_only)
        if args.enquiry_only:
            print(
                f"ENQUIRY people={people} workers={args.workers} load={load:.2f}->{os.getloadavg()[0]:.2f} "
                f"first={figures.enquiry_first_rps:.0f}/s,p99={figures.enquiry_first_p99_ms:.1f}ms "
                f"second={figures.enquiry_rps:.0f}/s,p50={figures.enquiry_p50_ms:.1f}ms,"
                f"p99={figures.enquiry_p99_ms:.1f}ms "
                f"errors={figures.enquiry_errors} worker_cpu_s={figures.worker_cpu_s}",
                flush=True,
            )
            continue
        results.append(figures)
        name = "figures.json" if args.workers == 1 else f"figures-workers{args.workers}.json"
        (args.work / f"{people}" / name).write_text(json.dumps(asdict(figures), indent=2))
    if results:
        print(table(results))


if __name__ == "__main__":
    main()

"""The durable person index (issue 17 item 5): seeding, matching latency, memory and disk, beside the in-memory one.

    .venv/bin/python -m bench.bench_person_index --people 100000
    .venv/bin/python -m bench.bench_person_index --people 1000000 --store var/bench/people-1m.db
    .venv/bin/python -m bench.bench_person_index --people 10000000 --store /big/disk/people-10m.db --no-memory

The store is resumable: people already in it (counted by their index rows) are kept and only the rest written,
in batches of one transaction each (``bench.seed.BenchStore``, the store's own write path), so an interrupted seed
goes on where it stopped and a populated store is reused as it is. Matching runs in a fresh process that only
opens the store and matches (its resident memory is the figure per worker); the in-memory ``PersonIndex`` is built
in another process from the same people and answers the same enquiries, and the two answers are compared.
Enquiries are ``noisy_queries`` about a sample of the stored people (the whole population would not fit a list
at 10M). Targets at 10M: matching p95 <= 10 ms, p99 <= 25 ms, RSS <= 1 GB per worker.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from mais_node.matching import PersonIndex, PersonRecord, from_fhir_patient, to_fhir_patient
from mais_node.matching.blocking import lookup
from mais_node.matching.grades import Candidate
from mais_node.matching.profile import profile_of
from mais_node.matching.rows import rank
from mais_node.matching.synthetic import iter_population, noisy_queries
from mais_node.storage.packed_json import unpack

SEED = 2027
SAMPLE = 20_000


def rss_mib() -> tuple[float, float]:
    """Resident memory of this process now and at its peak, in MiB (Linux /proc)."""
    found = {"VmRSS:": float("nan"), "VmHWM:": float("nan")}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0] + ":"
        if key in found:
            found[key] = int(line.split()[1]) / 1024
    return found["VmRSS:"], found["VmHWM:"]


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def stored_people(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM person").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def verified(people: Iterator[PersonRecord]) -> Iterator[PersonRecord]:
    """The people as the bench store holds them: every NHS number marked verified (``bench.seed``)."""
    for person in people:
        yield replace(person, nhs_verified=person.nhs_number is not None)


def seed(path: Path, people: int) -> tuple[int, float]:
    """Write the people not yet in the store; (people written, seconds)."""
    from bench.seed import BenchStore

    have = stored_people(path)
    if have >= people:
        return 0, 0.0
    store = BenchStore(path, people)
    store.people = have
    written = 0
    started = time.perf_counter()
    chunk = 50_000
    remaining = itertools.islice(iter_population(people, seed=SEED), have, None)
    while batch := list(itertools.islice(remaining, chunk)):
        store.add_people(batch)
        written += len(batch)
        rate = written / (time.perf_counter() - started)
        left = (people - have - written) / rate
        print(f"  seeded {have + written:,} of {people:,} ({rate:,.0f} people/s, {left:,.0f} s left)", flush=True)
    return written, time.perf_counter() - started


def sample_queries(path: Path, people: int, queries: int) -> list[dict[str, Any]]:
    """Labelled enquiries (FHIR Patients) about a random sample of the stored people."""
    chance = random.Random(SEED)
    conn = sqlite3.connect(path)
    try:
        top = conn.execute("SELECT max(rid) FROM resource").fetchone()[0] or 0
        rids = chance.sample(range(1, top + 1), min(top, SAMPLE * 2))
        sample: list[PersonRecord] = []
        for start in range(0, len(rids), 500):
            part = rids[start : start + 500]
            marks = ",".join("?" * len(part))
            for id_, payload in conn.execute(
                f"SELECT id, json FROM resource WHERE rtype = 'Patient' AND deleted = 0 AND rid IN ({marks})", part
            ):
                sample.append(from_fhir_patient({**orjson.loads(unpack(payload)), "id": id_}))
            if len(sample) >= SAMPLE:
                break
    finally:
        conn.close()
    labelled = noisy_queries(sample, queries, seed=SEED + 1)
    return [{"patient": to_fhir_patient(q.query), "expected": q.expected_id} for q in labelled]


def ask(match: Any, enquiries: list[dict[str, Any]]) -> tuple[list[float], list[list[tuple[str, str, float]]]]:
    latencies: list[float] = []
    answers: list[list[tuple[str, str, float]]] = []
    for enquiry in enquiries:
        record = from_fhir_patient({**enquiry["patient"], "id": "subject"})
        started = time.perf_counter()
        found: list[Candidate] = match(record)
        latencies.append((time.perf_counter() - started) * 1000)
        answers.append([(c.id, c.grade.value, round(c.score, 9)) for c in found])
    return latencies, answers


def worker_durable(path: Path, enquiries: list[dict[str, Any]]) -> dict[str, Any]:
    """A process that only opens the store and matches."""
    from mais_node.storage.sqlite import SqliteDatabase
    from mais_node.storage.sqlite_person_index import SqlitePersonRows

    started = time.perf_counter()
    db = SqliteDatabase(f"sqlite:///{path}")
    rows = SqlitePersonRows(db)
    rows.ensure()
    ready = time.perf_counter() - started
    opened = rss_mib()[0]

    def match(record: PersonRecord) -> list[Candidate]:
        profile = profile_of(record)
        return rank(profile, rows.block(lookup(profile)))

    ask(match, enquiries[:200])  # warm the statement cache and the first pages
    latencies, answers = ask(match, enquiries)
    now, peak = rss_mib()
    db.close()
    figures = {"ready": ready, "rss_open": opened, "rss": now, "rss_peak": peak}
    return {**figures, "latencies": latencies, "answers": answers}


def worker_memory(people: int, enquiries: list[dict[str, Any]]) -> dict[str, Any]:
    """Today's way: every person read into one process's ``PersonIndex``."""
    started = time.perf_counter()
    index = PersonIndex(verified(iter_population(people, seed=SEED)))
    built = time.perf_counter() - started
    latencies, answers = ask(index.match, enquiries)
    now, peak = rss_mib()
    return {"ready": built, "rss": now, "rss_peak": peak, "latencies": latencies, "answers": answers}


def in_child(kind: str, args: argparse.Namespace, enquiries_file: Path) -> dict[str, Any]:
    out = enquiries_file.with_suffix(f".{kind}.json")
    command = [sys.executable, "-m", "bench.bench_person_index", "--child", kind, "--people", str(args.people)]
    command += ["--store", str(args.store), "--enquiries", str(enquiries_file), "--out", str(out)]
    subprocess.run(command, check=True)
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    out.unlink()
    return result


def disk(path: Path, people: int) -> dict[str, float]:
    conn = sqlite3.connect(path)
    try:
        sizes = dict(
            conn.execute(
                "SELECT name, sum(pgsize) FROM dbstat WHERE name IN ('person', 'person_key') GROUP BY name"
            ).fetchall()
        )
    finally:
        conn.close()
    files = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return {
        "file_per_person": files / people,
        "person_per_person": sizes.get("person", 0) / people,
        "keys_per_person": sizes.get("person_key", 0) / people,
    }


def line(label: str, result: dict[str, Any]) -> str:
    lat = result["latencies"]
    return (
        f"{label:<10} ready {result['ready']:7.2f} s   match p50 {percentile(lat, 0.5):6.3f} ms  "
        f"p95 {percentile(lat, 0.95):6.3f} ms  p99 {percentile(lat, 0.99):6.3f} ms  mean {statistics.fmean(lat):.3f} ms"
        f"   RSS {result['rss']:,.0f} MiB (peak {result['rss_peak']:,.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--store", type=Path, help="the SQLite file (default var/bench/people-N.db); reused")
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=None, help="default: N <= 1M")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--child", choices=("durable", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--enquiries", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.store = args.store or Path(f"var/bench/people-{args.people}.db")
    if args.child:
        enquiries = orjson.loads(args.enquiries.read_bytes())
        durable = args.child == "durable"
        work = worker_durable(args.store, enquiries) if durable else worker_memory(args.people, enquiries)
        args.out.write_bytes(orjson.dumps(work))
        return

    args.store.parent.mkdir(parents=True, exist_ok=True)
    written, seconds = seed(args.store, args.people)
    have = stored_people(args.store)
    if have != args.people:
        raise SystemExit(f"{args.store} holds {have:,} people, not {args.people:,}: give another --store")
    figures: dict[str, Any] = {"people": have}
    if written:
        figures["seed_people_per_s"] = written / seconds
        print(f"seeded     {written:,} people in {seconds:,.0f} s ({written / seconds:,.0f} people/s, with episodes)")
    else:
        print(f"reused     {args.store} ({have:,} people)")
    enquiries = sample_queries(args.store, have, args.queries)
    with tempfile.TemporaryDirectory() as scratch:
        enquiries_file = Path(scratch) / "enquiries.json"
        enquiries_file.write_bytes(orjson.dumps(enquiries))
        durable = in_child("durable", args, enquiries_file)
        print(line("sqlite", durable))
        figures["sqlite"] = {k: v for k, v in durable.items() if k != "answers"}
        if args.memory if args.memory is not None else have <= 1_000_000:
            memory = in_child("memory", args, enquiries_file)
            print(line("memory", memory))
            differ = sum(a != b for a, b in zip(durable["answers"], memory["answers"], strict=True))
            print(f"answers    {differ} of {len(enquiries):,} enquiries differ between the two indexes")
            figures["memory"] = {k: v for k, v in memory.items() if k != "answers"}
            figures["answers_differ"] = differ
    sizes = disk(args.store, have)
    figures["disk"] = sizes
    print(
        f"disk       {sizes['file_per_person']:,.0f} bytes per person in the whole file (resources, history, search"
        f" index, episodes); person rows {sizes['person_per_person']:,.0f} + keys {sizes['keys_per_person']:,.0f}"
    )
    if args.json:
        for kind in ("sqlite", "memory"):
            if kind in figures:
                lat = figures[kind].pop("latencies")
                figures[kind].update(p50=percentile(lat, 0.5), p95=percentile(lat, 0.95), p99=percentile(lat, 0.99))
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark of the audit trail on the embedded store (issue 6 "Performance"): auditor search p95 and export rate.

    .venv/bin/python -m bench.bench_audit --events 1000000

Fills a SQLite audit log with synthetic BALP decision events (bulk appends, the chain computed as usual), then
times auditor searches (a date window with an agent; a patient), counts (``_total``, ``_summary=count``) and streaming
export (NDJSON and CSV).
Targets: search p95 <= 50 ms over 1M events; export >= 20,000 events/s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Coding, Node, Subject
from mais_node.audit.export import export
from mais_node.audit.port import Event
from mais_node.audit.query import parse_audit_query
from mais_node.storage.sqlite_audit import SqliteAuditLog

NODE = Node("X26", "Bench Borough Council", "https://node.bench/fhir", "https://mais.bench")
START = datetime(2025, 1, 1, tzinfo=UTC)
PURPOSE = (Coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "THREAT"),)
ORGS, PEOPLE, DAYS = 500, 200_000, 365


def nhs(i: int) -> str:
    return f"9{i:09d}"


def events(n: int, rng: random.Random) -> Iterator[Event]:
    step = timedelta(days=DAYS) / n
    for i in range(n):
        org = f"O{rng.randrange(ORGS):04d}"
        who = Actor(org, f"client-{org}", f"u-{rng.randrange(20)}", "Bench User", None, PURPOSE)
        yield balp.decision(
            NODE,
            START + i * step,
            who,
            enquiry_id=f"e{i}",
            item=rng.choice(("is-known", "is-open", "contact")),
            outcome=rng.choice(("permit", "deny", "review")),
            rule_ids=["national.s47"],
            policies=["https://dsa.bench/SharingPolicy/1|1"],
            subject=Subject(nhs(rng.randrange(PEOPLE))),
        )


def fill(log: SqliteAuditLog, n: int, rng: random.Random) -> float:
    started, batch = time.perf_counter(), []
    for event in events(n, rng):
        batch.append(event)
        if len(batch) == 10_000:
            log.append_many(batch)
            batch = []
    if batch:
        log.append_many(batch)
    return time.perf_counter() - started


def p95(log: SqliteAuditLog, queries: list[list[tuple[str, str]]]) -> tuple[float, float, float]:
    """(p50, p95, mean hits) of the first page of each query, in milliseconds."""
    times, hits = [], []
    for pairs in queries:
        started = time.perf_counter()
        page = log.search(parse_audit_query(pairs))
        times.append((time.perf_counter() - started) * 1000)
        hits.append(len(page.records))
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.mean(hits)


def window_with_agent(rng: random.Random) -> list[tuple[str, str]]:
    since = START + timedelta(days=rng.randrange(DAYS - 30))
    return [
        ("agent", f"O{rng.randrange(ORGS):04d}"),
        ("date", f"ge{since:%Y-%m-%d}"),
        ("date", f"lt{since + timedelta(days=30):%Y-%m-%d}"),
        ("_sort", "-date"),
    ]


def export_rate(log: SqliteAuditLog, fmt: str, directory: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with open(directory / f"export.{fmt}", "w", encoding="utf-8") as out:
        written = export(log.scan(), None, None, fmt, out)  # type: ignore[arg-type]
    return written, written / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--db", type=Path, help="reuse this file (filled if empty) instead of a temporary one")
    args = parser.parse_args()
    rng = random.Random(6)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "audit.db"
        log = SqliteAuditLog(path)
        if log.last() is None:
            elapsed = fill(log, args.events, rng)
            print(f"fill: {args.events} events in {elapsed:.1f} s ({args.events / elapsed:,.0f}/s)")
        last = log.last()
        print(f"log: {last.seq if last else 0} events, {os.path.getsize(path) / 1e6:,.0f} MB")
        for name, queries in (
            ("date window (30 days) + agent", [window_with_agent(rng) for _ in range(args.queries)]),
            ("patient", [[("patient", nhs(rng.randrange(PEOPLE)))] for _ in range(args.queries)]),
        ):
            p50, p95_ms, hits = p95(log, queries)
            print(f"search {name}: p50 {p50:.1f} ms, p95 {p95_ms:.1f} ms, mean {hits:.1f} hits/page (target p95 <= 50)")
        for name, pairs in (
            ("count all (_summary=count)", []),
            ("count agent in 30 days (_total)", window_with_agent(rng)[:3]),
            ("count patient", [("patient", nhs(rng.randrange(PEOPLE)))]),
        ):
            started = time.perf_counter()
            counted = log.count(parse_audit_query(pairs))
            print(f"{name}: {counted} in {(time.perf_counter() - started) * 1000:.1f} ms")
        for fmt in ("ndjson", "csv"):
            written, rate = export_rate(log, fmt, Path(tmp))
            print(f"export {fmt}: {written} events at {rate:,.0f} events/s (target >= 20,000)")
        log.close()


if __name__ == "__main__":
    main()

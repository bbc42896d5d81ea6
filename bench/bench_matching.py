"""Matching benchmark (issue 5 "Performance and quality"): build a synthetic index, then measure memory,
match latency and quality on labelled enquiries with realistic errors.

    .venv/bin/python -m bench.bench_matching --people 100000
    .venv/bin/python -m bench.bench_matching --people 1000000

Targets: p95 <= 5 ms at 1M people; index well under 1.5 GB; no false certain; >= 0.95 of true matches graded
probable or better.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

from mais_node.matching import PersonIndex
from mais_node.matching.blocking import lookup
from mais_node.matching.profile import profile_of
from mais_node.matching.quality import GRADED, evaluate
from mais_node.matching.synthetic import generate_population, iter_population, noisy_queries


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    index = PersonIndex(iter_population(args.people, seed=args.seed))
    built = time.perf_counter() - started
    gc.collect()
    after = rss_mib()
    print(f"people            {len(index):,}")
    print(f"build             {built:.1f} s (generating and indexing, {args.people / built:,.0f} people/s)")
    print(f"RSS               {after:,.0f} MiB total, index {after - before:,.0f} MiB")

    population = generate_population(args.people, seed=args.seed)
    queries = noisy_queries(population, args.queries, seed=args.seed + 1)
    del population
    gc.collect()

    latencies: list[float] = []
    for labelled in queries:
        started = time.perf_counter()
        index.match(labelled.query)
        latencies.append((time.perf_counter() - started) * 1000)
    print(
        f"match latency     p50 {percentile(latencies, 0.50):.2f} ms  p95 {percentile(latencies, 0.95):.2f} ms  "
        f"p99 {percentile(latencies, 0.99):.2f} ms  mean {statistics.fmean(latencies):.2f} ms "
        f"({len(latencies):,} enquiries)"
    )
    blocks = [len(index.rows.block(lookup(profile_of(labelled.query)))) for labelled in queries]
    print(
        f"candidates        p50 {percentile(blocks, 0.50):.0f}  p95 {percentile(blocks, 0.95):.0f}  "
        f"p99 {percentile(blocks, 0.99):.0f}  mean {statistics.fmean(blocks):.1f} (people a lookup finds, scored)"
    )

    report = evaluate(index, queries)
    print(f"queries           {report.queries:,} ({report.true_matches:,} about people in the index)")
    print(f"false certain     {report.false_certain} (target 0)")
    print(f"false probable    {report.false_probable} (wrong person graded probable: goes to review)")
    print(f"probable+ share   {report.probable_or_better:.4f} of true matches (target >= 0.95)")
    print(f"ambiguous         {report.ambiguous} enquiries with two or more probable candidates")
    print("grade             precision (best candidate right)   recall (true person at this grade or better)")
    for grade in GRADED:
        print(
            f"  {grade.value:<15} {report.precision(grade):.4f} of {report.best_grade[grade]:<6,}"
            f"               {report.recall(grade):.4f}"
        )
    print("missed (below probable) by error kind:", dict(report.missed_by_kind.most_common()))
    print("enquiries by kind:", dict(report.kinds.most_common()))


if __name__ == "__main__":
    main()

"""What the slowest enquiries of a ``bench.tail_trace.run`` trace have in common.

    PYTHONPATH=src:. .venv/bin/python -m bench.tail_trace.report /tmp/trace [first|second] [--strace /tmp/trace.strace]

For the enquiries of one wrk run (the second by default): the server-side p50 and p99; the mean of each component
for the enquiries at or past the p99 against the middle tenth; each of those tail enquiries by the long events
(over 20 ms) that overlapped it; each process's audit groups, ``BEGIN``/``COMMIT`` times, write-lock waits,
checkpoints and the loop thread's share of CPU and of run-queue wait; with ``--strace``, the ``fdatasync`` calls
and those that overlapped each slow audit ``COMMIT``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

MS = 1e6
LONG = 20e6
Events = dict[str, list[list[Any]]]


def load(trace: Path) -> dict[str, Events]:
    processes: dict[str, Events] = defaultdict(lambda: defaultdict(list))
    for file in trace.glob("*.jsonl"):
        for line in file.open():
            event = json.loads(line)
            processes[file.stem][event[0]].append(event)
    return processes


def overlaps(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class Process:
    def __init__(self, events: Events) -> None:
        self.events = events
        self.sched = sorted(events["sched"], key=lambda e: e[1])
        self.sched_at = [e[1] for e in self.sched]
        self.audit_commits = [e for e in events["sql"] if e[1] == "COMMIT" and e[4] == "audit-group-commit"]
        self.begins = [e for e in events["sql"] if e[1] == "BEGIN"]
        self.checkpoints = [e for e in events["sql"] if e[1] == "CHECKPOINT"]

    def loop_thread(self, t0: int, t1: int) -> tuple[int, int]:
        """CPU and run-queue wait of the loop thread between two times (ns)."""
        i, j = bisect.bisect_left(self.sched_at, t0), bisect.bisect_right(self.sched_at, t1) - 1
        if i >= len(self.sched) or j <= i:
            return 0, 0
        return self.sched[j][2] - self.sched[i][2], self.sched[j][3] - self.sched[i][3]

    def row(self, r: list[Any]) -> dict[str, float]:
        _, _, t0, t1, _, _, sql, begin, commit, lockwait, lockhold, audit = r
        cpu, wait = self.loop_thread(t0, t1)
        groups = [(e[2] - e[1]) / MS for e in self.events["group"] if overlaps(t0, t1, e[1], e[2])]
        commits = [(e[3] - e[2]) / MS for e in self.audit_commits if overlaps(t0, t1, e[2], e[3])]
        return {
            "latency": (t1 - t0) / MS,
            "loop cpu": cpu / MS,
            "loop runq": wait / MS,
            "sql": sql / MS,
            "lock wait": lockwait / MS,
            "lock hold": lockhold / MS,
            "begin": begin / MS,
            "commit": commit / MS,
            "audit await": audit / MS,
            "longest group": max(groups, default=0.0),
            "longest audit commit": max(commits, default=0.0),
            "checkpoint": sum(overlaps(t0, t1, e[2], e[3]) for e in self.checkpoints) / MS,
            "gc": sum(overlaps(t0, t1, e[2], e[3]) for e in self.events["gc"]) / MS,
        }

    def causes(self, t0: int, t1: int) -> str:
        found = []
        if any(e[3] - e[2] > LONG and overlaps(t0, t1, e[2], e[3]) for e in self.audit_commits):
            found.append("a slow audit COMMIT")
        if any(e[3] - e[2] > LONG and overlaps(t0, t1, e[2], e[3]) for e in self.begins):
            found.append("a BEGIN in the busy handler")
        if any(
            e[4] == "MainThread" and e[2] - e[1] > LONG and overlaps(t0, t1, e[1], e[2]) for e in self.events["lock"]
        ):
            found.append("the loop waiting for the write lock")
        if self.loop_thread(t0, t1)[1] > LONG:
            found.append("the loop thread runnable, not running")
        if any(e[3] - e[2] > LONG and overlaps(t0, t1, e[2], e[3]) for e in self.checkpoints):
            found.append("a checkpoint")
        if any(e[3] - e[2] > 5e6 and overlaps(t0, t1, e[2], e[3]) for e in self.events["gc"]):
            found.append("a collection over 5 ms")
        return " + ".join(found) or "none of these (queueing)"

    def summary(self, w0: int, w1: int) -> str:
        def within(events: list[list[Any]], at: int) -> list[list[Any]]:
            return [e for e in events if w0 <= e[at] <= w1]

        groups = within(self.events["group"], 1)
        if not groups:
            return ""
        commits = [(e[3] - e[2]) / MS for e in within(self.audit_commits, 2)]
        begins = [(e[3] - e[2]) / MS for e in within(self.begins, 2)]
        waits = [(e[2] - e[1]) / MS for e in within(self.events["lock"], 1)]
        checkpoints = [(e[3] - e[2]) / MS for e in within(self.checkpoints, 2)]
        durations = [(e[2] - e[1]) / MS for e in groups]
        samples = [e for e in self.sched if w0 <= e[1] <= w1]
        span = samples[-1][1] - samples[0][1] if len(samples) > 1 else 1
        return (
            f"{len(groups)} audit groups ({sum(e[3] for e in groups) / len(groups):.1f} enquiries each, "
            f"{pct(durations, 0.5):.1f} ms p50, {max(durations):.1f} max); audit COMMIT p50 {pct(commits, 0.5):.2f}"
            f" p99 {pct(commits, 0.99):.1f} max {max(commits, default=0):.1f} ms; BEGIN p99 {pct(begins, 0.99):.1f}"
            f" max {max(begins, default=0):.1f} ms; write-lock wait p99 {pct(waits, 0.99):.1f} max"
            f" {max(waits, default=0):.1f} ms; {len(checkpoints)} checkpoints (max {max(checkpoints, default=0):.1f}"
            f" ms); loop thread on CPU {(samples[-1][2] - samples[0][2]) / span:.2f} and runnable but waiting"
            f" {(samples[-1][3] - samples[0][3]) / span:.2f} of the time"
        )


def fdatasyncs(strace: Path, offset: int) -> list[tuple[int, int]]:
    """(start, end) of each fsync/fdatasync in CLOCK_MONOTONIC ns; ``offset``: wall clock minus monotonic."""
    found = []
    for line in strace.open():
        match = re.match(r"\d+\s+([\d.]+) f\w+\(\d+\)\s+= \d+ <([\d.]+)>", line)
        if match:
            start = int(float(match.group(1)) * 1e9) - offset
            found.append((start, start + int(float(match.group(2)) * 1e9)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace", type=Path)
    parser.add_argument("run", nargs="?", choices=["first", "second"], default="second")
    parser.add_argument("--strace", type=Path)
    args = parser.parse_args()
    meta = json.loads((args.trace / "meta.json").read_text())
    marks = meta["marks"]
    w0, w1 = (marks["first0"], marks["first1"]) if args.run == "first" else (marks["first1"], marks["second1"])
    processes = {pid: Process(events) for pid, events in load(args.trace).items()}
    rows = []
    for pid, process in processes.items():
        for r in process.events["req"]:
            if w0 <= r[2] <= w1 and "info-query" in r[5]:
                rows.append((process.row(r), pid, r))
    rows.sort(key=lambda x: x[0]["latency"])
    n = len(rows)
    tail, middle = rows[int(n * 0.99) :], rows[int(n * 0.45) : int(n * 0.55)]
    latencies = [x[0]["latency"] for x in rows]
    print(
        f"{args.run} run, {meta['workers']} worker(s), load {meta['load_before'][0]:.2f} -> "
        f"{meta['load_after'][0]:.2f}: wrk {meta[args.run]['rps']:.0f}/s, p50 {meta[args.run]['p50_ms']:.1f} ms, "
        f"p99 {meta[args.run]['p99_ms']:.1f} ms; server side {n} enquiries, p50 {pct(latencies, 0.5):.1f} ms, "
        f"p99 {pct(latencies, 0.99):.1f} ms, max {latencies[-1]:.1f} ms"
    )
    print(f"mean ms ({len(tail)} at or past p99 | {len(middle)} around p50):")
    for key in rows[0][0]:
        at_tail = sum(x[0][key] for x in tail) / len(tail)
        at_middle = sum(x[0][key] for x in middle) / len(middle)
        print(f"  {key:22} {at_tail:8.1f} | {at_middle:8.1f}")
    print(f"the {len(tail)} at or past p99, by what overlapped them (over {LONG / MS:.0f} ms):")
    for cause, count in Counter(processes[pid].causes(r[2], r[3]) for _, pid, r in tail).most_common():
        print(f"  {count:4d}  {cause}")
    for pid, process in processes.items():
        if line := process.summary(w0, w1):
            print(f"process {pid}: {line}")
    if args.strace:
        clock = next(e for p in processes.values() for e in p.events["clock"])
        syncs = [s for s in fdatasyncs(args.strace, clock[1] - clock[2]) if w0 <= s[0] <= w1]
        durations = [(b - a) / MS for a, b in syncs]
        print(
            f"fsync/fdatasync: {len(syncs)} calls, p50 {pct(durations, 0.5):.2f} p99 {pct(durations, 0.99):.1f} "
            f"max {max(durations, default=0):.1f} ms"
        )
        for process in processes.values():
            for e in process.audit_commits:
                if w0 <= e[2] <= w1 and e[3] - e[2] > LONG:
                    during = [(b - a) / MS for a, b in syncs if overlaps(e[2], e[3], a, b)]
                    shown = ", ".join(f"{d:.1f}" for d in during) or "none"
                    print(f"  audit COMMIT of {(e[3] - e[2]) / MS:.1f} ms; fdatasync during it: {shown} ms")


if __name__ == "__main__":
    main()

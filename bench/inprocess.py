"""The benchmarks that run in their own process without a server (bench_auth, bench_validation, bench_matching,
bench_audit, bench_enquiry_audit): run each as a subprocess, bounded in time, and read the figures it prints."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass

from bench.harness import PYTHON, ROOT


@dataclass
class Printed:
    text: str
    seconds: float

    def number(self, pattern: str) -> float:
        found = re.search(pattern, self.text, re.MULTILINE)
        if not found:
            raise ValueError(f"no match for {pattern!r} in:\n{self.text}")
        return float(found.group(1).replace(",", ""))


def run(module: str, *args: str, timeout: int = 900) -> Printed:
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return Printed(done.stdout, time.perf_counter() - started)


def auth(tokens: int, reads: int) -> Printed:
    return run("bench.bench_auth", "--tokens", str(tokens), "--reads", str(reads))


def validation() -> Printed:
    return run("bench.bench_validation")


def matching(people: int, queries: int) -> Printed:
    return run("bench.bench_matching", "--people", str(people), "--queries", str(queries))


def audit(events: int, queries: int) -> Printed:
    return run("bench.bench_audit", "--events", str(events), "--queries", str(queries))


def enquiry_audit(enquiries: int) -> Printed:
    return run("bench.bench_enquiry_audit", "--enquiries", str(enquiries))

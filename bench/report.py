"""docs/performance.md, written by ``make bench``: the machine, every target with its measured figure, and a
table per workload (throughput, p50/p99, memory)."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import LoadResult


@dataclass
class Target:
    issue: str
    what: str
    measured: str
    met: bool | None


@dataclass
class Row:
    name: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    rss_mb: float | None = None
    note: str = ""

    @classmethod
    def of(cls, result: LoadResult, rss_mb: float | None = None, note: str = "") -> Row:
        extra = f"{result.errors} errors ({result.status_4xx} 4xx, {result.status_5xx} 5xx)" if result.errors else ""
        return cls(
            result.name, result.rps, result.p50_ms, result.p99_ms, rss_mb, "; ".join(filter(None, [note, extra]))
        )


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    printed: str = ""
    markdown: str = ""  # written as it is (a table of its own)


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
        "0",
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        "nproc": str(os.cpu_count()),
        "CPU": cpu,
        "memory": f"{int(memory) / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "kernel": platform.release(),
        "load generator": (wrk[0] if wrk else "wrk").split(" [")[0],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _met(met: bool | None) -> str:
    return {True: "met", False: "**NOT met**", None: "n/a"}[met]


def render(targets: list[Target], sections: list[Section], *, mode: str, command: str, elapsed_s: float) -> str:
    lines = [
        "# Performance",
        "",
        f"Written by `make bench` (`{command}`): do not edit by hand. Mode: **{mode}**; the whole run took "
        f"{elapsed_s / 60:.1f} minutes.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {value} |" for key, value in machine().items()]
    met = sum(1 for t in targets if t.met)
    missed = [t for t in targets if t.met is False]
    lines += [
        "",
        "## How it is measured",
        "",
        "- Load comes from `wrk` in its own process over loopback (127.0.0.1), bounded in time and connections. wrk "
        "is closed loop: a fixed number of connections each send a request when the previous one is answered, so "
        "the offered load is stepped by the number of connections; p50/p99 are wrk's latency percentiles.",
        "- The node runs as `mais serve` (uvicorn, one worker unless said) on the embedded SQLite store, with every "
        "FHIR request carrying a bearer token obtained from the node's own token endpoint (SMART Backend Services, "
        "ES384 client assertion) before the run; a fresh token per workload (tokens live 300 s). The per-client "
        "rate limit is raised out of reach (`MAIS_RATE_LIMIT_REQUESTS=1000000000`); every request is still counted.",
        "- Memory is the resident set (VmRSS) of the server and its worker processes at the end of the workload.",
        "- Ratios (to the ceiling, to the peer) compare figures measured in the same run on the same machine.",
        "",
        f"## Targets: {met} of {len(targets)} met",
        "",
        "| issue | target | measured | |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t.issue} | {t.what} | {t.measured} | {_met(t.met)} |" for t in targets]
    if missed:
        lines += ["", "Not met: " + "; ".join(f"{t.what} (measured {t.measured})" for t in missed) + "."]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.rows:
            lines += [
                "| workload | req/s | p50 ms | p99 ms | RSS MiB | note |",
                "| --- | ---: | ---: | ---: | ---: | --- |",
            ]
            lines += [
                f"| {r.name} | {_num(r.rps, 0)} | {_num(r.p50_ms, 2)} | {_num(r.p99_ms, 2)} | {_num(r.rss_mb, 0)} "
                f"| {r.note} |"
                for r in section.rows
            ]
        if section.markdown:
            lines += ["", section.markdown]
        if section.notes:
            lines += [""] + [f"- {note}" for note in section.notes]
        if section.printed:
            lines += ["", "```text", section.printed, "```"]
    return "\n".join(lines) + "\n"

"""``bench_scale``'s served enquiry on a store it imported, with the latency timeline of ``sitecustomize.py`` on.

    PYTHONPATH=src:. .venv/bin/python -m bench.tail_trace.run --work var/bench-scale/1000000 --out /tmp/trace \
        [--workers 2] [--strace /tmp/trace.strace]
    PYTHONPATH=src:. .venv/bin/python -m bench.tail_trace.report /tmp/trace [first|second]

As ``bench_scale --reuse``: ``mais serve`` on the store, wrk's 16 clients for ``--seconds`` twice (a first run, then
the run the figures are of). ``--strace`` also runs the server under ``strace -f --seccomp-bpf`` for its
``fsync``/``fdatasync`` calls alone (only those calls stop, so the cost is a few microseconds each).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from pathlib import Path

from bench import core, enquiry
from bench.harness import ROOT, children, free_port, server
from bench.seed import BenchStore

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="a size's directory of bench_scale's --work")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--strace", type=Path)
    args = parser.parse_args()
    store = BenchStore(args.work / "node.db", 1)
    clients = store.register(again=True)
    port = free_port()
    args.out.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([str(HERE), str(ROOT / "src"), str(ROOT)])
    env = {**core.node_env(port), "MAIS_STORE": store.url, "PYTHONPATH": path, "TAILTRACE_OUT": str(args.out)}
    command = core.node_args(store.url, port, args.workers)
    if args.strace:
        command = ["strace", "-f", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-T", "-ttt", "-o"]
        command += [str(args.strace), *core.node_args(store.url, port, args.workers)]
    load = os.getloadavg()
    bodies = args.work / "bodies.ndjson"
    with server(command, port, env=env, ready="/readyz", log=args.out / "server.log", ready_timeout=1800) as running:
        marks = {"first0": time.monotonic_ns()}
        first = enquiry.enquiries(running, clients["la"], bodies, args.seconds, "first")
        marks["first1"] = time.monotonic_ns()
        second = enquiry.enquiries(running, clients["la"], bodies, args.seconds, "second")
        marks["second1"] = time.monotonic_ns()
        traced = children(running.pid) if args.strace else []
    for pid in traced:  # strace, told to stop, lets the server it started go on
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    meta = {
        "root": str(ROOT),
        "workers": args.workers,
        "load_before": load,
        "load_after": os.getloadavg(),
        "marks": marks,
        "first": first.as_dict(),
        "second": second.as_dict(),
        "at": time.strftime("%H:%M:%S", time.gmtime()),
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps({k: meta[k] for k in ("root", "workers", "load_before", "load_after", "first", "second", "at")}))


if __name__ == "__main__":
    main()

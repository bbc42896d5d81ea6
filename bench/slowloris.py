"""Slow-loris against a real node (issue 13 item 3): thousands of connections that each send part of a request's
headers and nothing more, reopened as soon as the node closes them, while a good client sends enquiries on its
own connections and a probe asks ``/readyz`` on a new connection every half second.

The attackers are separate processes (``python -m bench.slowloris attack ...``), each holding its share of the
connections (one process may open only as many files as ``ulimit -n``), bound to many loopback source addresses
(127.1.x.y) so that the node's per-address cap does not stop them alone: the cap per worker and the header
deadline are what is measured. Figures: the node's open sockets (from /proc, sampled each second), the
attackers' own count of connections they held, what the good client saw (wrk) and the probe's answers.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.enquiry import enquiries
from bench.harness import PYTHON, ROOT, LoadResult, Running
from bench.seed import Client

PARTIAL = b"GET /readyz HTTP/1.1\r\nHost: node\r\nX-Slow: "


@dataclass
class Attack:
    connections: int
    seconds: int
    reconnect: bool = False
    held_by_node: list[int] = field(default_factory=list)  # the node's open sockets, each second
    held_by_attackers: int = 0  # the most the attackers held at once (their count, summed)
    opened: int = 0
    answered_408: int = 0
    answered_503: int = 0
    probes: list[tuple[int, float]] = field(default_factory=list)  # (status or 0 for no answer, ms)
    baseline: LoadResult | None = None
    during: LoadResult | None = None

    @property
    def probe_ok(self) -> int:
        return sum(1 for status, _ in self.probes if status == 200)

    @property
    def probe_p99_ms(self) -> float:
        times = sorted(ms for _, ms in self.probes)
        return times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0


def sockets_of(pid: int) -> int:
    """Open sockets of a process (its /proc fd links), the node's view of how many connections it holds."""
    count = 0
    try:
        for entry in os.scandir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(entry.path).startswith("socket:"):
                    count += 1
            except OSError:
                continue
    except OSError:
        return 0
    return count


def probe(port: int) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            head = sock.recv(64)
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    except OSError:
        status = 0
    return status, (time.perf_counter() - started) * 1000


def run(
    running: Running,
    la: Client,
    bodies: Path,
    work: Path,
    *,
    connections: int,
    seconds: int,
    reconnect: bool,
    baseline: LoadResult | None = None,
) -> Attack:
    """The good client alone (unless a ``baseline`` is given), then the same with ``connections`` slow-loris
    connections opened against the node (and, with ``reconnect``, each reopened as soon as the node closes it)."""
    attack = Attack(connections, seconds, reconnect)
    attack.baseline = baseline or enquiries(running, la, bodies, seconds, "enquiry, 16 clients, no attack")
    kind = "reopened" if reconnect else "held"
    processes = max(1, -(-connections // 9000))  # each attacker well inside a 20,000-file limit
    outs = [work / f"attacker-{n}.json" for n in range(processes)]
    attackers = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "bench.slowloris",
                "attack",
                "--port",
                str(running.port),
                "--connections",
                str(connections // processes),
                "--seconds",
                str(seconds + 6),
                "--sources",
                f"{n}",
                "--out",
                str(out),
                *(["--reconnect"] if reconnect else []),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for n, out in enumerate(outs)
    ]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            attack.held_by_node.append(sockets_of(running.pid))

    def probes() -> None:
        while not stop.wait(0.5):
            attack.probes.append(probe(running.port))

    threads = [threading.Thread(target=sample), threading.Thread(target=probes)]
    try:
        time.sleep(4)  # the attackers open their connections first
        for thread in threads:
            thread.start()
        name = f"enquiry, 16 clients, {connections:,} slow-loris {kind}"
        attack.during = enquiries(running, la, bodies, seconds, name)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for process in attackers:
            process.wait(timeout=60)
    for out in outs:
        figures = json.loads(out.read_text())
        attack.held_by_attackers += figures["held_max"]
        attack.opened += figures["opened"]
        attack.answered_408 += figures["answered_408"]
        attack.answered_503 += figures["answered_503"]
    return attack


def summary(attack: Attack) -> list[str]:
    held = attack.held_by_node or [0]
    assert attack.baseline is not None
    assert attack.during is not None
    how = "each reopened as soon as the node closed it" if attack.reconnect else "none reopened"
    return [
        f"{attack.connections:,} slow-loris connections wanted, {attack.opened:,} opened in "
        f"{attack.seconds + 6} s ({how}): the node held {max(held):,} sockets at most "
        f"(median {statistics.median(held):,.0f}), the attackers {attack.held_by_attackers:,} at once by their own "
        f"count; answered 408 (headers too slow) {attack.answered_408:,}, 503 (at a limit) {attack.answered_503:,}.",
        f"Good client (wrk, 16 connections, enquiry): {attack.baseline.rps:,.0f} req/s p99 "
        f"{attack.baseline.p99_ms:.1f} ms alone; {attack.during.rps:,.0f} req/s p99 {attack.during.p99_ms:.1f} ms "
        f"during the attack, {attack.during.errors} errors.",
        f"/readyz on a new connection every 0.5 s during the attack: {attack.probe_ok} of {len(attack.probes)} "
        f"answered 200, p99 {attack.probe_p99_ms:.0f} ms.",
    ]


# -- the attacker process ---------------------------------------------------------------------------------------
def attack_main(port: int, connections: int, seconds: float, sources: int, out: Path, reconnect: bool) -> None:
    """Open ``connections`` half-sent requests and hold them for ``seconds``; with ``reconnect``, reopen each one
    the node closes."""
    selector = selectors.DefaultSelector()
    held: set[socket.socket] = set()
    figures = {"opened": 0, "held_max": 0, "answered_408": 0, "answered_503": 0, "connect_errors": 0}
    counter = 0

    def open_one() -> None:
        nonlocal counter
        counter += 1
        source = f"127.{1 + sources}.{(counter // 250) % 250 + 1}.{counter % 250 + 1}"
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.bind((source, 0))
            sock.connect_ex(("127.0.0.1", port))
        except OSError:
            figures["connect_errors"] += 1
            sock.close()
            return
        selector.register(sock, selectors.EVENT_WRITE)
        figures["opened"] += 1

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        while len(selector.get_map()) < connections and (reconnect or figures["opened"] < connections):
            open_one()
            if figures["connect_errors"] > 1000:
                break
        for key, events in selector.select(timeout=0.2):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if events & selectors.EVENT_WRITE and sock not in held:
                try:
                    sock.send(PARTIAL)
                    held.add(sock)
                    selector.modify(sock, selectors.EVENT_READ)
                    continue
                except OSError:
                    pass
            try:
                data = sock.recv(64)
            except OSError:
                data = b""
            figures["answered_408"] += data.startswith(b"HTTP/1.1 408")
            figures["answered_503"] += data.startswith(b"HTTP/1.1 503")
            selector.unregister(sock)
            held.discard(sock)
            sock.close()
        figures["held_max"] = max(figures["held_max"], len(held))
    out.write_text(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description="One slow-loris attacker process (bench/slowloris.py).")
    parser.add_argument("mode", choices=["attack"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--sources", type=int, default=0, help="which block of loopback source addresses to use")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--reconnect", action="store_true", help="reopen each connection the node closes")
    args = parser.parse_args()
    attack_main(args.port, args.connections, args.seconds, args.sources, args.out, args.reconnect)


if __name__ == "__main__":
    sys.exit(main())

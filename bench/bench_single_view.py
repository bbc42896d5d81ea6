"""Benchmark of the single view's fan-out (issue 15 "Performance"), with the documented lighter responder.

    .venv/bin/python -m bench.bench_single_view

The requester is the real fan-out (``FanOut`` over the httpx ``HttpPeers``: tokens, deadline, limits, breakers) in
this process. The partners are a lighter responder than ``mais serve`` (one separate process, one asyncio HTTP/1.1
server per partner on loopback: smart-configuration, a token, and ``$person-info-query`` answering ``match=false``
after the partner's own delay, or never answering), so that 200 partners fit on a 2-core machine. Three runs:
(1) 20 partners (delays 5-40 ms), 100 views one after the other: view p95 against the slowest partner's p95 + 50 ms,
and the requester's CPU per view and per partner asked; (2) 200 targets of which 20 never answer, a 2 s deadline:
the view's time against the deadline ± 5 %, every answering row filled; (3) 50 concurrent views over 20 partners:
p99 <= 2 s and no row lost, with the bench's wide limits (256 calls, 64 per endpoint) and with the node's own (64 calls,
8 per endpoint, 16 connections per partner: what ``mais serve`` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import re
import statistics
import time
from typing import Any

import orjson

from mais_node.adapters.jose_keys import generate_private_jwk
from mais_node.adapters.peers_http import HttpPeers, Identity
from mais_node.clock import SystemClock
from mais_node.network.breakers import Breakers
from mais_node.network.fan_out import FanOut, Limits
from mais_node.network.peers import Deadline, Partner, Trace
from mais_node.network.rows import RowState

ASK = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueCode": "s47-enquiry"}]}
NOT_KNOWN = orjson.dumps({"resourceType": "Parameters", "parameter": [{"name": "match", "valueBoolean": False}]})


def _responders(ports: list[int], delays: list[float | None], ready: Any) -> None:
    """One asyncio HTTP/1.1 server per partner (keep-alive); a None delay never answers the query."""

    async def serve(port: int, delay: float | None) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length: *(\d+)", head)
                    await reader.readexactly(int(length.group(1)) if length else 0)
                    line = head.split(b"\r\n", 1)[0]
                    if b"smart-configuration" in line:
                        body = orjson.dumps({"token_endpoint": f"http://127.0.0.1:{port}/auth/token"})
                    elif b"/auth/token" in line:
                        body = orjson.dumps({"access_token": "t", "expires_in": 300})
                    else:
                        if delay is None:
                            await asyncio.sleep(3600)
                        await asyncio.sleep(delay or 0)
                        body = NOT_KNOWN
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n"
                        + f"content-length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        return await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)

    async def main() -> None:
        for port, delay in zip(ports, delays, strict=True):
            await serve(port, delay)
        ready.set()
        await asyncio.sleep(36000)

    asyncio.run(main())


def _ports(count: int) -> list[int]:
    import socket

    found = []
    probes = []
    for _ in range(count):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        probes.append(probe)
        found.append(int(probe.getsockname()[1]))
    for probe in probes:
        probe.close()
    return found


def _start(delays: list[float | None]) -> tuple[multiprocessing.Process, list[Partner]]:
    ports = _ports(len(delays))
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=_responders, args=(ports, delays, ready), daemon=True)
    process.start()
    if not ready.wait(30):
        raise RuntimeError("the responders did not start")
    partners = [Partner(f"P{i:05d}", f"Partner {i}", f"http://127.0.0.1:{p}/fhir") for i, p in enumerate(ports)]
    return process, partners


def _fan_out(concurrency: int = 256, per_endpoint: int = 64, *, node_limits: bool = False) -> FanOut:
    """The fan-out; ``node_limits``: with the limits a node runs with (``Limits()``, ``HttpPeers``' own pool)."""
    key = generate_private_jwk("ES384")
    breakers = Breakers(threshold=10**9)  # every view asks every partner: the breaker would hide the silent ones
    if node_limits:
        return FanOut(HttpPeers(Identity("bench", lambda: key)), SystemClock(), breakers=breakers, limits=Limits())
    peers = HttpPeers(Identity("bench", lambda: key), max_connections=per_endpoint)
    return FanOut(peers, SystemClock(), breakers=breakers, limits=Limits(concurrency, per_endpoint))


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def one_after_another(partners: list[Partner], views: int) -> dict[str, Any]:
    fan_out = _fan_out()
    await fan_out.ask_all(partners, ASK, deadline=Deadline.after(10), trace=Trace.new())  # tokens, connections
    times, per_partner = [], {p.ods: [] for p in partners}  # type: dict[str, list[float]]
    cpu = time.process_time()
    for _ in range(views):
        started = time.monotonic()
        rows = await fan_out.ask_all(partners, ASK, deadline=Deadline.after(10), trace=Trace.new())
        times.append((time.monotonic() - started) * 1000)
        for row in rows:
            assert row.state is RowState.NOT_KNOWN, row
            per_partner[row.organisation].append(row.latency_ms or 0.0)
    cpu = time.process_time() - cpu
    await fan_out.peers.aclose()
    slowest = max(_p(v, 95) for v in per_partner.values())
    return {
        "view_p95_ms": _p(times, 95),
        "slowest_partner_p95_ms": slowest,
        "cpu_ms_per_view": cpu * 1000 / views,
        "cpu_ms_per_partner": cpu * 1000 / views / len(partners),
    }


async def at_the_deadline(partners: list[Partner], silent: int, seconds: float) -> dict[str, Any]:
    fan_out = _fan_out()
    started = time.monotonic()
    rows = await fan_out.ask_all(partners, ASK, deadline=Deadline.after(seconds), trace=Trace.new())
    took = time.monotonic() - started
    await fan_out.peers.aclose()
    states = [r.state for r in rows]
    return {
        "took_s": took,
        "deadline_s": seconds,
        "within_5_percent": abs(took - seconds) <= 0.05 * seconds,
        "not_known": states.count(RowState.NOT_KNOWN),
        "timed_out": states.count(RowState.TIMED_OUT),
        "answering": len(partners) - silent,
    }


async def many_at_once(partners: list[Partner], views: int, *, node_limits: bool = False) -> dict[str, Any]:
    fan_out = _fan_out(node_limits=node_limits)
    await fan_out.ask_all(partners, ASK, deadline=Deadline.after(10), trace=Trace.new())

    async def one() -> tuple[float, int]:
        started = time.monotonic()
        rows = await fan_out.ask_all(partners, ASK, deadline=Deadline.after(10), trace=Trace.new())
        return (time.monotonic() - started) * 1000, sum(r.state is RowState.NOT_KNOWN for r in rows)

    results = await asyncio.gather(*(one() for _ in range(views)))
    await fan_out.peers.aclose()
    times = [t for t, _ in results]
    return {"p99_ms": _p(times, 99), "rows_filled": sum(n for _, n in results), "rows_expected": views * len(partners)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=100)
    parser.add_argument("--deadline", type=float, default=2.0)
    args = parser.parse_args()
    rng = random.Random(15)
    twenty: list[float | None] = [rng.uniform(0.005, 0.040) for _ in range(20)]
    process, partners = _start(twenty)
    try:
        print("20 partners, one view after another:", asyncio.run(one_after_another(partners, args.views)))
        print("50 concurrent views over 20 partners:", asyncio.run(many_at_once(partners, 50)))
        print(
            "50 concurrent views over 20 partners, the node's own limits:",
            asyncio.run(many_at_once(partners, 50, node_limits=True)),
        )
    finally:
        process.kill()
    wide: list[float | None] = [None] * 20 + [rng.uniform(0.005, 0.040) for _ in range(180)]
    process, partners = _start(wide)
    try:
        print("200 targets, 20 never answer:", asyncio.run(at_the_deadline(partners, 20, args.deadline)))
    finally:
        process.kill()


if __name__ == "__main__":
    main()

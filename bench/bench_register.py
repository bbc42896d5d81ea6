"""Benchmark of the national register (issue 14 "Performance").

    .venv/bin/python -m bench.bench_register --organisations 500 --systems 1500 --tokens 200

A generated national-sized register (500 organisations, each with its Endpoint, 1,500 systems with inline JWKS),
signed by a generated authority key, served by a real authority node (``mais serve``, loopback) at ``/register``.
A node on the embedded store (in process) imports it through the HTTP source: (1) a full first import (fetch,
verify, parse, diff, audit, apply); (2) an unchanged poll (``If-None-Match`` → 304), median of many; (3) a one-change
diff (serial 2 suspends one system: fetch, verify and parse the whole document, apply one change); (4) token issuance
for a nationally registered client against a locally registered one, interleaved in rounds, same run.
Targets: (1) <= 2 s, (2) <= 5 ms, (3) <= 200 ms, (4) ratio >= 0.9. The one-change diff is also given in CPU time of
the importing process (what the import costs, less the waits of a shared machine).

    .venv/bin/python -m bench.bench_register --in-process

imports from a file instead (no authority node, no HTTP): (1) and (3) alone, in wall and CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi.testclient import TestClient
from tests.registers import Authority, an_organisation

from bench.harness import PYTHON, free_port, server
from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.app import create_app
from mais_node.audit.actors import Actor
from mais_node.client import client_assertion
from mais_node.config import Settings
from mais_node.network.ports import Published
from mais_node.register.model import Client, Organisation
from mais_node.wiring import Services, build_services

FORM = "application/x-www-form-urlencoded"
ADMIN = Actor(client_id="bench")


def generate(organisations: int, systems: int, key: dict[str, Any]) -> tuple[list[Organisation], list[Client]]:
    """The register's organisations and systems; the first system's private key is ``key``."""
    keys = [public_jwks(generate_private_jwk("ES384")) for _ in range(20)]
    orgs = [an_organisation(f"ORG{i:05d}", name=f"Organisation {i}") for i in range(organisations)]
    clients = [
        Client(
            f"sys-{i:05d}",
            orgs[i % organisations].ods,
            ("mais/enquiry",),
            "2026-01-01T00:00:00+00:00",
            jwks=keys[i % 20],
        )
        for i in range(systems)
    ]
    clients[0] = replace(clients[0], jwks=public_jwks(key))
    return orgs, clients


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def cpu_timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU time of ``action``."""
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def in_process(authority: Authority, first: bytes, rounds: list[bytes], work: Path) -> None:
    """(1) and (3) from a file: the import alone, no HTTP and no authority process beside it."""
    path = work / "register.json"
    path.write_bytes(first)
    trust = authority.write_trust(work)
    settings = Settings(
        store=f"sqlite:///{work / 'node.db'}", register_url=str(path), register_trust=trust, register_sync_seconds=0
    )
    node = build_services(settings)
    assert node.network is not None
    assert node.network.importer is not None
    importer = node.network.importer
    full = cpu_timed(importer.sync)
    diffs = []
    for document in rounds:
        path.write_bytes(document)
        diffs.append(cpu_timed(importer.sync))
    node.close()
    print(f"full first import (in process): {full[0] * 1000:,.0f} ms, CPU {full[1] * 1000:,.0f} ms")
    wall, cpu = statistics.median(d[0] for d in diffs), statistics.median(d[1] for d in diffs)
    print(f"one-change diff (in process): median {wall * 1000:,.0f} ms, CPU median {cpu * 1000:,.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organisations", type=int, default=500)
    parser.add_argument("--systems", type=int, default=1500)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7, help="one-change serials to import")
    parser.add_argument("--in-process", action="store_true", help="import from a file: (1) and (3) alone")
    args = parser.parse_args()
    authority = Authority()
    system_key = generate_private_jwk("ES384")
    orgs, clients = generate(args.organisations, args.systems, system_key)
    national_id = clients[0].client_id
    first = orjson.dumps(authority.signed(authority.content(1, orgs, clients)))
    # Serials 2, 3, …: each changes one system's status (suspended, then active again, …) against the one before.
    rounds = []
    for serial in range(2, 2 + args.rounds):
        status = "suspended" if serial % 2 == 0 else "active"
        changed = [clients[0], replace(clients[1], status=status), *clients[2:]]
        rounds.append(orjson.dumps(authority.signed(authority.content(serial, orgs, changed))))
    print(f"register: {len(first) / 1e6:.1f} MB, {args.organisations} organisations, {args.systems} systems")

    with tempfile.TemporaryDirectory(prefix="mais-bench-register-") as tmp:
        work = Path(tmp)
        if args.in_process:
            in_process(authority, first, rounds, work)
            return
        trust = authority.write_trust(work)
        authority_store = f"sqlite:///{work / 'authority.db'}"
        services = build_services(Settings(store=authority_store, node_org="AUTH01"))
        assert services.network is not None
        services.network.store.put_published(Published(1, '"1"', first))
        services.close()
        port = free_port()
        command = [PYTHON, "-m", "mais_node", "serve", "--store", authority_store, "--port", str(port)]
        with server(command, port, env={"MAIS_NODE_ORG": "AUTH01"}, ready="/readyz") as running:
            url = f"{running.base}/register"
            settings = Settings(
                store=f"sqlite:///{work / 'node.db'}", register_url=url, register_trust=trust, register_sync_seconds=0
            )
            node = build_services(settings)
            assert node.network is not None
            importer = node.network.importer
            assert importer is not None
            full = timed(importer.sync)
            polls = [timed(importer.sync) for _ in range(args.polls)]
            publisher = build_services(Settings(store=authority_store, node_org="AUTH01"))
            assert publisher.network is not None
            diffs, cpus = [], []
            for serial, document in enumerate(rounds, start=2):
                publisher.network.store.put_published(Published(serial, f'"{serial}"', document))
                wall, cpu = cpu_timed(importer.sync)
                diffs.append(wall)
                cpus.append(cpu)
                assert node.network.store.national_serial() == serial
            publisher.close()
            one = statistics.median(diffs)
            fetch = statistics.median(timed(lambda: importer.source.fetch(None)) for _ in range(5))
            etag = importer.source.fetch(None).etag  # type: ignore[union-attr]
            round_trip = statistics.median(timed(lambda: importer.source.fetch(etag)) for _ in range(args.polls))
            print(f"full first import: {full * 1000:,.0f} ms")
            print(f"unchanged poll (304): median {statistics.median(polls) * 1000:.2f} ms over {len(polls)}")
            print(
                f"one-change diff: median {one * 1000:,.0f} ms over {len(diffs)} serials "
                f"(range {min(diffs) * 1000:,.0f}-{max(diffs) * 1000:,.0f} ms), "
                f"CPU median {statistics.median(cpus) * 1000:,.0f} ms"
            )
            print(f"fetching the whole document alone: {fetch * 1000:,.0f} ms")
            print(f"304 round trip alone: median {round_trip * 1000:.2f} ms")
            tokens(node, national_id, system_key, args.tokens)
            node.close()


def tokens(node: Services, national_id: str, national_key: dict[str, Any], n: int) -> None:
    """Token issuance for the national client and a local one, interleaved in rounds; tokens/s and their ratio."""
    local_key = generate_private_jwk("ES384")
    node.auth.organisations.add("LOC001", "Local Org", "la-childrens-social-care", actor=ADMIN, verified=True)
    local = node.auth.clients.add("LOC001", ["mais/enquiry"], jwks=public_jwks(local_key), actor=ADMIN)
    url = node.auth.token_url
    with TestClient(create_app(node.settings, services=node)) as http:

        def rate(client_id: str, key: dict[str, Any], count: int) -> float:
            bodies = [
                urlencode(
                    {
                        "grant_type": "client_credentials",
                        "scope": "mais/enquiry",
                        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        "client_assertion": client_assertion(client_id, url, key),
                    }
                )
                for _ in range(count)
            ]
            started = time.perf_counter()
            for body in bodies:
                answer = http.post("/auth/token", content=body, headers={"Content-Type": FORM})
                assert answer.status_code == 200, answer.text
            return count / (time.perf_counter() - started)

        rate(national_id, national_key, 20)
        rate(local.client_id, local_key, 20)
        ratios, national_rates, local_rates = [], [], []
        for _ in range(5):
            national_rates.append(rate(national_id, national_key, n // 5))
            local_rates.append(rate(local.client_id, local_key, n // 5))
            ratios.append(national_rates[-1] / local_rates[-1])
        print(f"tokens/s national: {statistics.median(national_rates):,.0f}")
        print(f"tokens/s local: {statistics.median(local_rates):,.0f}")
        print(f"token ratio national/local (median of 5 rounds): {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()

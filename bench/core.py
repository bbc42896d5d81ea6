"""Issue 2 workloads: read by id, create, search by identifier (1k and 100k Patients), against the ceiling.

    .venv/bin/python -m bench.core [--people 100000] [--seconds 10]

The ceiling is a bare FastAPI/uvicorn endpoint returning a constant, measured in the same run on the same
machine; every figure of the node is reported as a ratio to it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import orjson

from bench.harness import PYTHON, LoadResult, free_port, lua_pick, lua_post, rss_mb, server, wrk

NHS = "https://fhir.nhs.uk/Id/nhs-number"

CEILING_APP = """
from fastapi import FastAPI
from starlette.responses import Response

app = FastAPI()


@app.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.get("/constant")
async def constant() -> Response:
    return Response(b'{"resourceType":"Patient","id":"x"}', media_type="application/fhir+json")
"""


def patient(i: int) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": f"{9000000000 + i}"}],
        "name": [{"use": "official", "family": f"Family{i % 5000}", "given": [f"Given{i % 700}"]}],
        "gender": ("male", "female")[i % 2],
        "birthDate": f"{1950 + i % 70}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "address": [{"postalCode": f"LS{i % 30} {i % 9}AB"}],
    }


def load_people(store_url: str, start: int, count: int) -> list[str]:
    """Write Patients through the resource service (the same path as the API) and return their ids."""
    from mais_node.config import Settings
    from mais_node.wiring import build_services

    services = build_services(Settings(store=store_url))
    ids = []
    try:
        for i in range(start, start + count):
            ids.append(services.resources.create("Patient", patient(i)).stored.id)
    finally:
        services.close()
    return ids


def ceiling(seconds: int) -> LoadResult:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ceiling_app.py").write_text(CEILING_APP)
        args = [
            PYTHON,
            "-m",
            "uvicorn",
            "--app-dir",
            tmp,
            "ceiling_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        with server(args, port):
            return wrk("ceiling (constant endpoint)", f"http://127.0.0.1:{port}/constant", seconds=seconds)


def node_args(store_url: str, port: int) -> list[str]:
    return [PYTHON, "-m", "mais_node", "serve", "--store", store_url, "--port", str(port)]


def run(people: int, seconds: int) -> dict[str, object]:
    results: dict[str, object] = {}
    top = ceiling(seconds)
    results["ceiling"] = top.__dict__
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{tmp}/bench.db"
        started = time.perf_counter()
        ids = load_people(store_url, 0, 1000)
        ids_file = Path(tmp) / "ids.txt"
        ids_file.write_text("\n".join(ids))
        nhs_file = Path(tmp) / "nhs.txt"
        nhs_file.write_text("\n".join(f"{NHS}|{9000000000 + i}" for i in range(1000)))
        port = free_port()
        with server(node_args(store_url, port), port) as pid:
            base = f"http://127.0.0.1:{port}"
            read = wrk("read by id", base, script=lua_pick("GET", "/fhir/Patient/", ids_file), seconds=seconds)
            create = wrk(
                "create", base, script=lua_post("/fhir/Patient", orjson.dumps(patient(7)).decode()), seconds=seconds
            )
            search_1k = wrk(
                "search by identifier (1k)",
                base,
                script=lua_pick("GET", "/fhir/Patient?identifier=", nhs_file),
                seconds=seconds,
            )
            rss_small = rss_mb(pid)
        load_started = time.perf_counter()
        load_people(store_url, 1000, people - 1000)
        load_seconds = time.perf_counter() - load_started
        nhs_file.write_text("\n".join(f"{NHS}|{9000000000 + i}" for i in range(0, people, max(1, people // 5000))))
        port = free_port()
        with server(node_args(store_url, port), port) as pid:
            search_big = wrk(
                f"search by identifier ({people // 1000}k)",
                f"http://127.0.0.1:{port}",
                script=lua_pick("GET", "/fhir/Patient?identifier=", nhs_file),
                seconds=seconds,
            )
            rss_big = rss_mb(pid)
        results["load_seconds"] = round(load_seconds, 1)
        results["setup_seconds"] = round(time.perf_counter() - started, 1)
    for result in (read, create, search_1k, search_big):
        results[result.name] = {**result.__dict__, "ratio_to_ceiling": round(result.rps / top.rps, 3)}
    results["rss_mb"] = {"1k": round(rss_small, 1), f"{people // 1000}k": round(rss_big, 1)}
    results["targets"] = {
        "read >= 0.40 of ceiling": read.rps / top.rps >= 0.40,
        "create >= 0.20 of ceiling": create.rps / top.rps >= 0.20,
        "search p99 <= 20 ms at 100k": search_big.p99_ms <= 20,
        "search p99(100k)/p99(1k) <= 1.5": search_big.p99_ms / max(search_1k.p99_ms, 0.001) <= 1.5,
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = run(args.people, args.seconds)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

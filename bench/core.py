"""The two references and issue 2's REST workloads: the bare constant FastAPI/uvicorn endpoint (the ceiling on
this machine), the Python FHIR peer ``fhirstarter`` (Patient create and read, in memory), and the node's read by
id, create and search by identifier with an operator's bearer token.

Run as part of ``python -m bench.run`` (``make bench``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson

from bench.harness import NODE_ENV, PYTHON, ROOT, LoadResult, Running, free_port, lua_pick, lua_post, server, wrk

NHS = "https://fhir.nhs.uk/Id/nhs-number"
PEER_PYTHON = ROOT / "bench" / ".venv-fhirstarter" / "bin" / "python"

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


def uvicorn_args(app: str, port: int, *, python: str | Path = PYTHON, app_dir: str | None = None) -> list[str]:
    args = [str(python), "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return args + (["--app-dir", app_dir] if app_dir else [])


def node_args(store_url: str, port: int, workers: int = 1) -> list[str]:
    args = [PYTHON, "-m", "mais_node", "serve", "--store", store_url, "--port", str(port)]
    return args + (["--workers", str(workers)] if workers > 1 else [])


def ceiling(seconds: int) -> tuple[LoadResult, float]:
    """The constant endpoint at 16 connections; (result, server RSS MiB)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "ceiling_app.py").write_text(CEILING_APP)
        with server(uvicorn_args("ceiling_app:app", port, app_dir=tmp), port) as running:
            result = wrk("ceiling (constant endpoint)", f"{running.base}/constant", seconds=seconds)
            return result, running.rss_mb()


def peer(seconds: int) -> tuple[LoadResult, LoadResult, float]:
    """fhirstarter's Patient read (1,000 stored) and create; (read, create, RSS MiB)."""
    port = free_port()
    args = uvicorn_args("peer_app:app", port, python=PEER_PYTHON, app_dir=str(ROOT / "bench"))
    with tempfile.TemporaryDirectory() as tmp, server(args, port, ready="/Patient/p0", python_path=False) as running:
        ids = Path(tmp) / "ids.txt"
        ids.write_text("\n".join(f"p{i}" for i in range(1000)))
        read = wrk("peer read by id", running.base, script=lua_pick("GET", "/Patient/", ids), seconds=seconds)
        body = orjson.dumps(patient(7)).decode()
        create = wrk("peer create", running.base, script=lua_post("/Patient", body), seconds=seconds)
        return read, create, running.rss_mb()


def rest(running: Running, token: str, ids_file: Path, nhs_file: Path, seconds: int, size: str) -> list[LoadResult]:
    """Read by id, create, search by identifier on a running node (the Patient store holds ``size`` people)."""
    env = {"BENCH_TOKEN": token}
    read = wrk(
        f"read by id ({size})",
        running.base,
        script=lua_pick("GET", "/fhir/Patient/", ids_file),
        env=env,
        seconds=seconds,
    )
    body = orjson.dumps(patient(7)).decode()
    create = wrk(f"create ({size})", running.base, script=lua_post("/fhir/Patient", body), env=env, seconds=seconds)
    search = search_by_identifier(running, token, nhs_file, seconds, size)
    return [read, create, search]


def search_by_identifier(running: Running, token: str, nhs_file: Path, seconds: int, size: str) -> LoadResult:
    script = lua_pick("GET", "/fhir/Patient?identifier=", nhs_file)
    return wrk(
        f"search by identifier ({size})", running.base, script=script, env={"BENCH_TOKEN": token}, seconds=seconds
    )


def node_env(port: int) -> dict[str, str]:
    """The node's settings for a server on ``port`` (its token endpoint URL, the ``aud`` of assertions)."""
    return {**NODE_ENV, "MAIS_HOST": "127.0.0.1", "MAIS_PORT": str(port)}

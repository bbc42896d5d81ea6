"""Benchmark of SMART Backend Services (issue 3 "Performance"): token issuance and the cost of the bearer check.

    .venv/bin/python -m bench.bench_auth --tokens 300 --reads 3000

In process, on the embedded store (SQLite file in a temporary directory) with the real audit log on the same file:
(1) token issuance through the token endpoint (assertion check, replay cache, audit record, signing), tokens/s;
(2) a FHIR read by id through the HTTP API (Starlette TestClient) with the bearer check and rate limit, against
the same read on an app without them, interleaved in rounds in the same run. Target: ratio >= 0.85.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from tests.builders import patient
from tests.unit.auth.support import Registered

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.api import errors
from mais_node.api.media import check_accept
from mais_node.api.routes import auth as auth_routes
from mais_node.api.routes import rest
from mais_node.api.security import fhir_interaction
from mais_node.audit.actors import Actor
from mais_node.auth.bearer import Caller
from mais_node.auth.services import AuthServices
from mais_node.clock import SystemClock
from mais_node.config import Settings
from mais_node.wiring import Services, build_services

FORM = "application/x-www-form-urlencoded"
ADMIN = Actor(client_id="bench")


async def _no_auth(request: Request) -> Caller:
    """``fhir_interaction`` without the bearer check and scope test: the Accept check stays, so only auth differs."""
    await check_accept(request)
    return Caller("bench", "LA0001", ("system/*.cruds",), "bench", 2**62)


def app_for(services: Services, *, with_auth: bool) -> FastAPI:
    """The node's FHIR REST API; without auth, the bearer-check dependency is overridden by a fixed caller."""
    app = FastAPI()
    errors.install(app)
    app.state.services = services
    app.include_router(auth_routes.router)
    app.include_router(rest.router)
    if not with_auth:
        app.dependency_overrides[fhir_interaction] = _no_auth
    return app


def issue_tokens(auth: AuthServices, registered: Registered, n: int) -> float:
    forms = [urlencode(registered.form(time.time(), scope="system/Patient.rs")).encode() for _ in range(n)]
    started = time.perf_counter()
    for body in forms:
        assert auth.token_endpoint.handle(FORM, body).status == 200
    return n / (time.perf_counter() - started)


def reads_per_second(client: TestClient, url: str, headers: dict[str, str], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        # The limit is out of reach but every request is still counted in the store, as in production.
        settings = Settings(store=f"sqlite:///{path}", base_url="http://testserver", rate_limit_requests=10**9)
        services = build_services(settings, clock=SystemClock())
        auth = services.auth
        auth.organisations.add("LA0001", "Bench Council", "la-childrens-social-care", verified=True, actor=ADMIN)
        private = generate_private_jwk("ES384")
        client = auth.clients.add("LA0001", ["system/Patient.rs"], jwks=public_jwks(private), actor=ADMIN)
        registered = Registered(client, private, "ES384")
        rate = issue_tokens(auth, registered, args.tokens)
        print(f"token issuance: {rate:,.0f} tokens/s ({args.tokens} tokens, ES384 assertions, audited)")

        stored = services.resources.create("Patient", patient()).stored
        url = f"/fhir/Patient/{stored.id}"
        token = orjson.loads(orjson.dumps(auth.token_endpoint.handle(FORM, _form(registered)).body))["access_token"]
        with (
            TestClient(app_for(services, with_auth=False)) as plain,
            TestClient(app_for(services, with_auth=True)) as guarded,
        ):
            headers = {"Authorization": f"Bearer {token}"}
            reads_per_second(plain, url, {}, 200)  # warm up both
            reads_per_second(guarded, url, headers, 200)
            ratios, off, on = [], [], []
            per_round = args.reads // args.rounds
            for _ in range(args.rounds):
                off.append(reads_per_second(plain, url, {}, per_round))
                on.append(reads_per_second(guarded, url, headers, per_round))
                ratios.append(on[-1] / off[-1])
        print(f"read by id, auth off: {statistics.median(off):,.0f} req/s")
        print(f"read by id, auth on:  {statistics.median(on):,.0f} req/s")
        ratio = statistics.median(ratios)
        print(
            f"ratio (median of {args.rounds} rounds): {ratio:.3f} (target >= 0.85) {'OK' if ratio >= 0.85 else 'SHORT'}"
        )
        services.close()


def _form(registered: Registered) -> bytes:
    return urlencode(registered.form(time.time(), scope="system/Patient.rs")).encode()


if __name__ == "__main__":
    main()

"""The node-starting helpers of the multi-node tests (issues 14, 15): ``mais serve`` processes on loopback ports,
each with its own store, stopped by their process id (and group), and the calls those tests make of them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.audit.actors import Actor
from mais_node.client import client_assertion
from mais_node.config import Settings
from mais_node.network.ports import Published
from mais_node.network.publish import publish
from mais_node.wiring import build_services
from tests.api.test_single_view import rows as rows  # one reading of a view's rows for every tier
from tests.processes import free_port

READY_WITHIN = 30.0
ACTOR = Actor(org_ods="AUTH01", client_id="network-test")
TRACE_SYSTEM = "https://mais.example.org/fhir/Id/trace-id"


@contextmanager
def serving(store: Path, log: Path, **env: str) -> Iterator[str]:
    """``mais serve`` on a free loopback port until the block ends (``serving_on``)."""
    with serving_on(free_port(), store, log, **env) as base:
        yield base


@contextmanager
def serving_on(port: int, store: Path, log: Path, **env: str) -> Iterator[str]:
    """``mais serve`` on ``port`` until the block ends; then stopped by its process id (and group)."""
    base = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")}
    environment |= {"MAIS_BASE_URL": base, "MAIS_LOG_LEVEL": "warning"} | env
    command = [sys.executable, "-m", "mais_node", "serve", "--store", f"sqlite:///{store}", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, env=environment, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            until(lambda: ready(base), f"{base} ready", server)
            yield base
        finally:
            if server.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(timeout=10)


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def until(
    condition: Any, what: str, server: subprocess.Popen[bytes] | None = None, within: float = READY_WITHIN
) -> float:
    """Seconds until ``condition()`` held (failing the test after ``within``)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if server is not None and server.poll() is not None:
            pytest.fail(f"{what}: the server exited with {server.returncode}")
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    pytest.fail(f"not {what} within {within} s")


def register_serial(base: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base}/readyz", timeout=2.0).json()["register"])


def publish_from(settings: Settings, private: dict[str, Any], *, revoke: str | None = None) -> Published:
    services = build_services(settings)
    try:
        if revoke:
            services.auth.clients.revoke(revoke, actor=ACTOR)
        assert services.network is not None
        return publish(
            services.auth.organisations,
            services.auth.clients,
            services.resources,
            services.network.store,
            services.clock,
            private_jwk=private,
            valid_for=timedelta(days=7),
            base=settings.public_base,
        )
    finally:
        services.close()


def local_client(store: Path, org: str, scope: str, **settings: Any) -> tuple[str, dict[str, Any]]:
    """A system registered at one node only (its store, written beside the running node): id and private key."""
    services = build_services(Settings(store=f"sqlite:///{store}", node_org=org, **settings))
    try:
        key = generate_private_jwk("ES384")
        client = services.auth.clients.add(org, scope.split(), actor=ACTOR, jwks=public_jwks(key))
        return client.client_id, key
    finally:
        services.close()


def token(base: str, client_id: str, key: dict[str, Any], scope: str) -> str:
    answer = httpx.post(
        f"{base}/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion(client_id, f"{base}/auth/token", key),
        },
        timeout=10.0,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def seed(store: Path, org: str, *people: dict[str, Any]) -> None:
    services = build_services(Settings(store=f"sqlite:///{store}", node_org=org))
    try:
        for person in people:
            services.resources.create("Patient", person)
    finally:
        services.close()


def traced(base: str, bearer: str, trace_id: str) -> list[dict[str, Any]]:
    found = httpx.get(
        f"{base}/fhir/AuditEvent",
        params={"entity:identifier": f"{TRACE_SYSTEM}|{trace_id}", "_count": 100},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10.0,
    )
    assert found.status_code == 200, found.text
    return [e["resource"] for e in found.json().get("entry", [])]

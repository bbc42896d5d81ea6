"""Issue 14 with real processes: an authority node and three nodes (``mais serve``, own stores, own loopback ports).

A system registered only at the authority gets a token at all three after one sync; the authority revokes it and
publishes; each node refuses it within the sync interval (2 s here; the time is measured and printed); a forged and a
rolled-back register are refused at every node, the last good one kept. Every process is stopped by its id."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.client import client_assertion
from mais_node.config import Settings
from mais_node.network.ports import Published
from mais_node.network.signature import sign
from mais_node.wiring import build_services
from tests.e2e.nodes import ACTOR, publish_from, register_serial, serving, until

pytestmark = pytest.mark.slow

SYNC_SECONDS = 2.0


def token_status(base: str, client_id: str, key: dict[str, Any]) -> int:
    assertion = client_assertion(client_id, f"{base}/auth/token", key)
    answer = httpx.post(
        f"{base}/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "mais/enquiry",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
        timeout=5.0,
    )
    return answer.status_code


def authority_store(path: Path, key: dict[str, Any]) -> tuple[Settings, str]:
    """The authority's own register: LA0001, its node's Endpoint, and one system; the client id."""
    settings = Settings(store=f"sqlite:///{path}", node_org="AUTH01", node_org_name="MAIS Register Authority")
    services = build_services(settings)
    try:
        orgs = services.auth.organisations
        orgs.add("LA0001", "Leeds City Council", "la-childrens-social-care", actor=ACTOR, verified=True)
        orgs.add_endpoint("LA0001", "https://la0001.example/fhir", actor=ACTOR)
        client = services.auth.clients.add("LA0001", ["mais/enquiry"], actor=ACTOR, jwks=public_jwks(key))
    finally:
        services.close()
    return settings, client.client_id


def serve_instead(settings: Settings, document: bytes, serial: int) -> None:
    """What an attacker who took over the authority's web server would serve (the store's row, written directly)."""
    services = build_services(settings)
    try:
        assert services.network is not None
        services.network.store.put_published(Published(serial, f'"forged-{serial}"', document))
    finally:
        services.close()


def test_an_authority_and_three_nodes(tmp_path: Path) -> None:
    authority_key = generate_private_jwk("ES384")
    trust = tmp_path / "trust.json"
    trust.write_bytes(orjson.dumps(public_jwks(authority_key)))
    system_key = generate_private_jwk("ES384")
    settings, client_id = authority_store(tmp_path / "authority.db", system_key)
    first = publish_from(settings, authority_key)
    with ExitStack() as stack:
        authority = stack.enter_context(
            serving(tmp_path / "authority.db", tmp_path / "authority.log", MAIS_NODE_ORG="AUTH01")
        )
        nodes = [
            stack.enter_context(
                serving(
                    tmp_path / f"node{i}.db",
                    tmp_path / f"node{i}.log",
                    MAIS_NODE_ORG=f"NODE0{i}",
                    MAIS_REGISTER_URL=f"{authority}/register",
                    MAIS_REGISTER_TRUST=str(trust),
                    MAIS_REGISTER_SYNC_SECONDS=str(SYNC_SECONDS),
                )
            )
            for i in (1, 2, 3)
        ]
        for node in nodes:
            until(lambda node=node: register_serial(node)["serial"] == first.serial, f"{node} on serial 1")
            assert token_status(node, client_id, system_key) == 200

        second = publish_from(settings, authority_key, revoke=client_id)
        published = time.monotonic()
        refused_after = []
        for node in nodes:
            until(lambda node=node: token_status(node, client_id, system_key) == 401, f"{node} refusing", within=10)
            refused_after.append(time.monotonic() - published)
        print(f"\nrevocation refused at the three nodes after {', '.join(f'{s:.2f}' for s in refused_after)} s")
        assert max(refused_after) <= SYNC_SECONDS + 1.0  # one interval, and the time to fetch and apply

        forged_key = generate_private_jwk("ES384") | {"kid": authority_key["kid"]}
        forged = orjson.loads(second.document)
        forged["identifier"]["value"] = "3"
        forged = sign(
            {k: v for k, v in forged.items() if k != "signature"}, forged_key, when="2026-12-01T00:00:00Z", who="x"
        )
        serve_instead(settings, orjson.dumps(forged), 3)
        for node in nodes:
            until(
                lambda node=node: "does not verify" in register_serial(node).get("last_refusal", ""),
                f"{node} refusing a forgery",
            )
            assert register_serial(node)["serial"] == second.serial
        serve_instead(settings, first.document, 4)  # serial 1's genuine document, replayed
        for node in nodes:
            until(
                lambda node=node: "rollback" in register_serial(node).get("last_refusal", ""),
                f"{node} refusing a rollback",
            )
            assert register_serial(node)["serial"] == second.serial
            assert token_status(node, client_id, system_key) == 401

"""A node in process with real tokens: clients are registered with keys made at test time (no keys in the repo)
and get their access tokens from the node's own token endpoint, as a partner's system would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.app import create_app
from mais_node.audit.actors import Actor
from mais_node.client import client_assertion
from mais_node.config import Settings
from mais_node.wiring import Services, build_services

OPERATOR = "system/*.cruds"
ADMIN_ACTOR = Actor(org_ods="NODE01", client_id="tests")


@dataclass
class Node:
    http: TestClient
    services: Services

    def organisation(self, ods: str, kind: str = "la-childrens-social-care", *, verified: bool = True) -> None:
        self.services.auth.organisations.add(ods, f"Organisation {ods}", kind, actor=ADMIN_ACTOR, verified=verified)

    def token(self, scope: str = OPERATOR, ods: str = "NODE01") -> str:
        private = generate_private_jwk("ES384")
        client = self.services.auth.clients.add(ods, scope.split(), actor=ADMIN_ACTOR, jwks=public_jwks(private))
        token_url = self.services.auth.token_url
        answer = self.http.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": client_assertion(client.client_id, token_url, private),
            },
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def as_(self, scope: str = OPERATOR, ods: str = "NODE01") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope, ods)}"}


def make_node(tmp_path: Path, **settings: object) -> Iterator[Node]:
    config = Settings(store=f"sqlite:///{tmp_path / 'node.db'}", **settings)  # type: ignore[arg-type]
    services = build_services(config)
    with TestClient(create_app(config, services=services)) as http:
        yield Node(http, services)
    services.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield from make_node(tmp_path, max_body_bytes=64 * 1024)


@pytest.fixture
def operator(node: Node) -> dict[str, str]:
    """Headers of a node operator's system: every FHIR interaction, and the register and vocabulary roles."""
    return node.as_(f"{OPERATOR} mais/admin mais/terminology-manager")


NodeFactory = Callable[..., Iterator[Node]]

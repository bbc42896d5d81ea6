"""A node with its register and auth services for the tests: on a real store, with the in-memory audit log.

Test keys are generated at test time: no private key is committed.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.app import create_app
from mais_node.audit.actors import Actor
from mais_node.audit.memory import MemoryAuditLog
from mais_node.auth.ports import FetchedJwks
from mais_node.auth.ratelimit import RateLimitPolicy
from mais_node.auth.services import AuthServices, build_auth
from mais_node.clock import Clock
from mais_node.config import Settings
from mais_node.register.model import Client
from mais_node.wiring import Services, build_services, open_register_store

BASE = "http://testserver"
TOKEN_URL = f"{BASE}/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ADMIN = Actor(client_id="test-admin")


class FakeJwksFetcher:
    """JWKS URLs answered from a dict, counting fetches."""

    def __init__(self) -> None:
        self.documents: dict[str, FetchedJwks] = {}
        self.fetches = 0

    def fetch(self, url: str) -> FetchedJwks:
        from mais_node.errors import Unavailable

        self.fetches += 1
        if url not in self.documents:
            raise Unavailable("no such JWKS")
        return self.documents[url]


@dataclass
class World:
    settings: Settings
    services: Services
    auth: AuthServices
    audit: MemoryAuditLog
    clock: Clock
    fetcher: FakeJwksFetcher

    def close(self) -> None:
        self.auth.close()
        self.services.close()

    def app(self) -> FastAPI:
        """The node's API, as the app factory wires it, on this world's services."""
        return create_app(self.settings, services=self.services)

    def organisation(self, ods: str = "LA0001", *, verified: bool = True) -> None:
        self.auth.organisations.add(ods, f"Council {ods}", "la-childrens-social-care", actor=ADMIN, verified=verified)

    def client(self, alg: str = "ES384", *, ods: str = "LA0001", scope: str = "system/*.cruds") -> Registered:
        private = generate_private_jwk("ES384" if alg == "ES384" else "RS384")
        client = self.auth.clients.add(ods, scope.split(), jwks=public_jwks(private), actor=ADMIN)
        return Registered(client, private, alg)

    def refusals(self) -> list[str]:
        return [r.event.get("outcomeDesc", "") for r in self.audit.records if r.event.get("outcome") == "8"]


@dataclass
class Registered:
    client: Client
    private_jwk: dict[str, Any]
    alg: str

    @property
    def client_id(self) -> str:
        return self.client.client_id

    @property
    def key(self) -> ECKey | RSAKey:
        return ECKey.import_key(self.private_jwk) if self.alg == "ES384" else RSAKey.import_key(self.private_jwk)

    def assertion(self, now: float, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
        body = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "exp": int(now) + 240,
            "iat": int(now),
            "jti": uuid.uuid4().hex,
        } | claims
        head = {"alg": self.alg, "kid": self.private_jwk["kid"], "typ": "JWT"} | (header or {})
        head = {k: v for k, v in head.items() if v is not None}
        return sign_raw(head, {k: v for k, v in body.items() if v is not None}, self.key)

    def form(self, now: float, scope: str = "system/Patient.rs", **claims: Any) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(now, **claims),
        }


def sign_raw(header: dict[str, Any], claims: dict[str, Any], key: ECKey | RSAKey) -> str:
    """A compact JWS signed over exactly this header, as any client library might send it: joserfc's own encoder
    refuses header fields outside its registry, so the signing input is built here (RFC 7515 §5.1)."""

    def segment(value: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    signing_input = segment(header) + b"." + segment(claims)
    signature = JWSRegistry.algorithms[header["alg"]].sign(signing_input, key)
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def make_world(
    tmp_path: Path,
    clock: Clock,
    *,
    store: str | None = None,
    rate: RateLimitPolicy | None = None,
    refused_limit: int = 60,
    base: str = BASE,
) -> World:
    url = store or f"sqlite:///{tmp_path / 'node.db'}"
    settings = Settings(store=url, base_url=base, node_org="NODE01", refused_limit=refused_limit)
    services = build_services(settings, clock=clock)
    audit = MemoryAuditLog(clock)
    fetcher = FakeJwksFetcher()
    auth = build_auth(
        settings,
        services.store,
        services.resources,
        audit,
        clock,
        jwks_fetcher=fetcher,
        rate_limit=rate or RateLimitPolicy(10_000, 60),
        register_store=open_register_store(services.store),
    )
    services.auth = auth  # this test's audit log, JWKS fetcher and rate limit
    return World(settings, services, auth, audit, clock, fetcher)


def epoch(clock: Clock) -> float:
    return clock.now().timestamp()

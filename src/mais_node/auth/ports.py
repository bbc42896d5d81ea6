"""The ports of the auth services: replay cache, rate counters, node keys (in the store) and JWKS fetching (HTTP).

Each store-backed port is shared by every worker and replica of the node, since they all use one store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

KeyStatus = Literal["active", "previous", "retired"]


@dataclass(frozen=True, slots=True)
class NodeKey:
    """One of the node's signing keys; ``jwk`` is the private JWK (kept in the store, see docs)."""

    kid: str
    alg: str
    jwk: dict[str, Any]
    created: str
    status: KeyStatus = "active"
    status_since: str | None = None


class ReplayCache(Protocol):
    def first_use(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        """Record ``jti`` of ``issuer`` until ``expires_at`` (epoch s); False when recorded and unexpired at ``now``."""
        ...


class RateCounter(Protocol):
    def hit(self, key: str, window: int, expires_at: float, n: int = 1) -> int:
        """Count ``n`` requests of ``key`` in fixed window ``window``; the count so far in that window."""
        ...


class NodeKeyStore(Protocol):
    def add_node_key(self, key: NodeKey) -> None: ...

    def node_keys(self) -> list[NodeKey]:
        """Every key, oldest first."""
        ...

    def set_node_key_status(self, kid: str, status: KeyStatus, since: str) -> None: ...


@dataclass(frozen=True, slots=True)
class FetchedJwks:
    jwks: dict[str, Any]
    max_age: int  # seconds the response may be cached (Cache-Control), 0 = not at all


class JwksFetcher(Protocol):
    def fetch(self, url: str) -> FetchedJwks:
        """GET the JWK Set at ``url``; raise Unavailable when it cannot be had."""
        ...

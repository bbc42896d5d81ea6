"""A client's verification keys: its inline JWKS, or its JWKS URL cached no longer than Cache-Control allows.

A ``kid`` the cached copy lacks fetches the URL again (a client may publish a new key and sign with it at once), at
most once per ``REFETCH_SECONDS`` per URL, so assertions with made-up kids cannot make the node fetch on demand.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from mais_node.auth.ports import JwksFetcher
from mais_node.clock import Clock
from mais_node.errors import InvalidRequest, Unavailable
from mais_node.register.jwks import check_public_jwks
from mais_node.register.model import Client

MAX_CACHE_SECONDS = 3600
REFETCH_SECONDS = 60
VerificationKey = RSAKey | ECKey


class KeyNotUsable(Exception):
    """The client's keys cannot verify this assertion: why, for the audit record."""


@dataclass(slots=True)
class _Cached:
    jwks: dict[str, Any]
    until: float


class ClientKeys:
    def __init__(self, fetcher: JwksFetcher | None, clock: Clock) -> None:
        self.fetcher = fetcher
        self.clock = clock
        self._cache: dict[str, _Cached] = {}
        self._refetched: dict[str, float] = {}
        self._lock = threading.Lock()

    def _may_refetch(self, url: str, now: float) -> bool:
        """Whether an unknown kid may fetch ``url`` again now (called under the lock; records that it did)."""
        if now - self._refetched.get(url, float("-inf")) < REFETCH_SECONDS:
            return False
        self._refetched[url] = now
        return True

    def jwks(self, client: Client, kid: str | None = None) -> dict[str, Any]:
        """The client's JWK Set: inline, or from its JWKS URL, cached as Cache-Control allows; a cached copy without
        ``kid`` is fetched again, if this URL was not fetched again in the last ``REFETCH_SECONDS``."""
        if client.jwks is not None:
            return client.jwks
        if client.jwks_uri is None or self.fetcher is None:
            raise KeyNotUsable("the client has no keys the node can read")
        now = self.clock.now().timestamp()
        with self._lock:
            cached = self._cache.get(client.jwks_uri)
            fresh = cached is not None and cached.until > now
            if cached is not None and fresh and (kid is None or _has_kid(cached.jwks, kid)):
                return cached.jwks
            if cached is not None and fresh and not self._may_refetch(client.jwks_uri, now):
                return cached.jwks
        try:
            fetched = self.fetcher.fetch(client.jwks_uri)
            jwks = check_public_jwks(fetched.jwks)
        except (Unavailable, InvalidRequest) as exc:
            raise KeyNotUsable(f"the client's JWKS URL gave no usable keys ({exc.diagnostics})") from exc
        with self._lock:
            if fetched.max_age > 0:
                self._cache[client.jwks_uri] = _Cached(jwks, now + min(fetched.max_age, MAX_CACHE_SECONDS))
            else:
                self._cache.pop(client.jwks_uri, None)  # a refetch that may not be kept replaces the copy kept
        return jwks

    def select(self, client: Client, kid: Any, alg: str) -> VerificationKey:
        """The one key of the client named by ``kid`` that can verify ``alg`` (RS384: RSA, ES384: P-384)."""
        if not isinstance(kid, str) or not kid:
            raise KeyNotUsable("the assertion header has no 'kid'")
        matching = [k for k in self.jwks(client, kid)["keys"] if k.get("kid") == kid]
        if len(matching) != 1:
            raise KeyNotUsable(f"'kid' selects {len(matching)} keys of the client, not exactly one")
        try:
            key = KeySet.import_key_set({"keys": matching}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise KeyNotUsable("the client's key cannot be read") from exc
        if alg == "RS384" and isinstance(key, RSAKey):
            return key
        if alg == "ES384" and isinstance(key, ECKey) and key.curve_name == "P-384":
            return key
        raise KeyNotUsable(f"the key '{kid}' is not a key for {alg}")


def _has_kid(jwks: dict[str, Any], kid: str) -> bool:
    return any(key.get("kid") == kid for key in jwks["keys"])

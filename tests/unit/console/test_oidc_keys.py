"""The identity provider's key set is fetched once and reused (not at every callback), and fetched again at once when
an ID token is signed by a key the cached set does not hold (the provider rotated its keys). The provider is an
httpx mock serving discovery and a JWKS; the tokens are real signed JWTs (joserfc)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from mais_node.console import oidc
from mais_node.console.oidc import CallbackFailed, OidcConfig, Provider

ISSUER = "https://idp.example.org"
CLIENT = "mais-console"
FIRST = RSAKey.generate_key(2048, parameters={"kid": "first"})
SECOND = RSAKey.generate_key(2048, parameters={"kid": "second"})


class Idp:
    """Discovery and a JWKS that the test can rotate; counts the JWKS requests."""

    def __init__(self) -> None:
        self.published = [FIRST]
        self.jwks_requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                },
            )
        self.jwks_requests += 1
        return httpx.Response(200, json=KeySet(self.published).as_dict(private=False))


def token(key: RSAKey, nonce: str = "n") -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "ada", "iat": now, "exp": now + 300, "nonce": nonce}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def provider(idp: Idp) -> Provider:
    config = OidcConfig(ISSUER, CLIENT, "", "roles", {"ig": "ig-officer"}, "http://127.0.0.1/console/oidc/callback", "")
    return Provider(config, transport=httpx.MockTransport(idp))


def check(p: Provider, id_token: str, nonce: str = "n") -> dict[str, Any]:
    return asyncio.run(p.checked(id_token, nonce))


def test_the_key_set_is_fetched_once_for_many_sign_ins() -> None:
    idp = Idp()
    p = provider(idp)
    for _ in range(5):
        assert check(p, token(FIRST))["sub"] == "ada"
    assert idp.jwks_requests == 1


def test_a_rotated_key_is_fetched_at_once_and_the_old_one_then_refused() -> None:
    idp = Idp()
    p = provider(idp)
    check(p, token(FIRST))
    idp.published = [SECOND]  # the provider rotates: the cached set does not hold the new key
    assert check(p, token(SECOND))["sub"] == "ada"
    assert idp.jwks_requests == 2
    with pytest.raises(CallbackFailed, match="signature"):  # the retired key: not in the fresh set either
        check(p, token(FIRST))
    assert idp.jwks_requests == 3


def test_a_token_refused_for_its_claims_does_not_fetch_the_keys_again() -> None:
    idp = Idp()
    p = provider(idp)
    check(p, token(FIRST))
    with pytest.raises(CallbackFailed, match="nonce"):
        check(p, token(FIRST, nonce="another"))
    assert idp.jwks_requests == 1


def test_the_cached_set_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    idp = Idp()
    p = provider(idp)
    check(p, token(FIRST))
    monkeypatch.setattr(oidc, "KEYS_FOR", 0.0)
    check(p, token(FIRST))
    assert idp.jwks_requests == 2

"""Systems of registered organisations: keys, scopes, revocation, and an audit record per change."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.errors import InvalidRequest, NotFound
from tests.unit.auth.support import ADMIN, World


def test_a_client_is_registered_to_an_organisation_with_its_public_keys(world: World) -> None:
    world.organisation("LA0001")
    jwks = public_jwks(generate_private_jwk("RS384"))
    client = world.auth.clients.add("la0001", ["system/Patient.rs"], jwks=jwks, actor=ADMIN)
    assert (client.org_ods, client.status, client.jwks) == ("LA0001", "active", jwks)
    assert world.auth.clients.get(client.client_id) == client
    assert world.audit.records[-1].event["entity"][0]["what"]["reference"] == f"Client/{client.client_id}/_history/1"


def test_revoking_is_a_new_version_and_an_audit_record(world: World) -> None:
    world.organisation("LA0001")
    client = world.client()
    revoked = world.auth.clients.revoke(client.client_id, actor=ADMIN)
    assert (revoked.status, revoked.version, revoked.active) == ("revoked", 2, False)
    assert world.audit.records[-1].event["action"] == "U"
    assert world.auth.clients.reinstate(client.client_id, actor=ADMIN).active
    assert [c.client_id for c in world.auth.clients.list("LA0001")] == [client.client_id]
    with pytest.raises(NotFound):
        world.auth.clients.revoke("nobody", actor=ADMIN)


def _jwks(**changes: Any) -> dict[str, Any]:
    key = public_jwks(generate_private_jwk("ES384"))["keys"][0] | changes
    return {"keys": [{k: v for k, v in key.items() if v is not None}]}


def _short_rsa() -> dict[str, Any]:
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()  # noqa: S505 (the weak key under test)
    n = base64.urlsafe_b64encode(numbers.n.to_bytes(128, "big")).rstrip(b"=").decode()
    return {"kty": "RSA", "n": n, "e": "AQAB", "kid": "small"}


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({"keys": []}, "non-empty"),
        (_jwks(kid=None), "kid"),
        (generate_private_jwk("ES384") | {}, "non-empty"),
        ({"keys": [generate_private_jwk("ES384")]}, "private key material"),
        ({"keys": [ECKey.generate_key("P-256").as_dict(private=False) | {"kid": "p256"}]}, "P-384"),
        ({"keys": [_short_rsa()]}, "2048"),
        ({"keys": [{"kty": "EC", "kid": "bad", "crv": "P-384", "x": "AA", "y": "AA"}]}, "cannot be read"),
    ],
)
def test_unusable_keys_are_refused(world: World, jwks: dict[str, Any], message: str) -> None:
    world.organisation("LA0001")
    with pytest.raises(InvalidRequest, match=message):
        world.auth.clients.add("LA0001", ["system/Patient.rs"], jwks=jwks, actor=ADMIN)


def test_keys_come_from_exactly_one_place_and_a_url_must_be_https(world: World) -> None:
    world.organisation("LA0001")
    with pytest.raises(InvalidRequest, match="one of them"):
        world.auth.clients.add("LA0001", ["mais/enquiry"], actor=ADMIN)
    with pytest.raises(InvalidRequest, match="https"):
        world.auth.clients.add("LA0001", ["mais/enquiry"], jwks_uri="http://partner.example/jwks", actor=ADMIN)


def test_a_client_needs_a_registered_organisation_and_known_scopes(world: World) -> None:
    with pytest.raises(NotFound):
        world.auth.clients.add("ZZ0001", ["mais/enquiry"], jwks=_jwks(), actor=ADMIN)
    world.organisation("LA0001")
    with pytest.raises(InvalidRequest, match="scope"):
        world.auth.clients.add("LA0001", ["system/Patient.*"], jwks=_jwks(), actor=ADMIN)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1.partner.example/jwks",
        "http://localhost.partner.example/jwks",
        "http://localhost@partner.example/jwks",
    ],
)
def test_a_plain_http_jwks_url_is_refused_unless_its_host_is_this_machine(world: World, url: str) -> None:
    world.organisation("LA0001")
    with pytest.raises(InvalidRequest, match="https"):
        world.auth.clients.add("LA0001", ["mais/enquiry"], jwks_uri=url, actor=ADMIN)
    assert world.auth.clients.add("LA0001", ["mais/enquiry"], jwks_uri="http://127.0.0.1:9/jwks", actor=ADMIN)

"""SMART Backend Services through HTTP, in process: a third-party OAuth client (authlib's httpx client with
private_key_jwt) gets tokens and calls the API; bad tokens, suspended organisations and excess rates are refused.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from mais_node.auth.ratelimit import RateLimitPolicy
from mais_node.clock import FixedClock, SystemClock
from tests.builders import patient
from tests.unit.auth.support import ADMIN, BASE, TOKEN_URL, World, epoch, make_world

FHIR = {"content-type": "application/fhir+json"}


class SmartPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's private_key_jwt, with the assertion lifetime SMART allows (authlib's default is one hour)."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                alg=self.alg,
                header=dict(self.headers),
                expires_in=240,
            )
        )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[World]:
    world = make_world(tmp_path, SystemClock())
    world.organisation("LA0001")
    yield world
    world.close()


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_third_party_oauth_client_gets_a_token_and_reads_a_patient(live: World, alg: str) -> None:
    registered = live.client(alg, scope="system/Patient.crs")
    app = live.app()
    key = registered.key

    async def scenario() -> tuple[dict[str, Any], int, int]:
        method = SmartPrivateKeyJWT(TOKEN_URL, alg=alg, headers={"kid": registered.private_jwk["kid"]})
        async with AsyncOAuth2Client(
            registered.client_id,
            key,
            token_endpoint_auth_method=method,
            scope="system/Patient.crs",
            transport=httpx2.ASGITransport(app=app),
            base_url=BASE,
        ) as oauth:
            token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
            created = await oauth.post("/fhir/Patient", content=orjson.dumps(patient()), headers=FHIR)
            read = await oauth.get(f"/fhir/Patient/{created.json()['id']}")
            return dict(token), created.status_code, read.status_code

    token, created, read = asyncio.run(scenario())
    assert token["token_type"] == "bearer"
    assert token["expires_in"] <= 300
    assert (created, read) == (201, 200)


@pytest.fixture
def node(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[World, TestClient]]:
    world = make_world(tmp_path, clock, rate=RateLimitPolicy(5, 60))
    world.organisation("LA0001")
    with TestClient(world.app()) as client:
        yield world, client
    world.close()


def token_for(world: World, client: TestClient, scope: str = "system/Patient.rs") -> str:
    registered = world.client(scope=scope)
    answer = client.post("/auth/token", data=registered.form(epoch(world.clock), scope=scope))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_discovery_is_json_whatever_the_accept_header(node: tuple[World, TestClient]) -> None:
    _, client = node
    answer = client.get("/fhir/.well-known/smart-configuration", headers={"Accept": "application/fhir+xml"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["grant_types_supported"] == ["client_credentials"]
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert {"client-confidential-asymmetric", "permission-v2"} <= set(body["capabilities"])
    assert "permission-v1" in body["capabilities"]  # v1 scopes are accepted, read as v2 (issue 12 item 4)
    assert "system/AuditEvent.rs" in body["scopes_supported"]


def test_the_jwks_publishes_the_key_that_signs_tokens(node: tuple[World, TestClient]) -> None:
    world, client = node
    token = token_for(world, client)
    keys = client.get("/auth/jwks").json()["keys"]
    kid = jwt.decode(token, ECKey.import_key(keys[0]), algorithms=["ES384"]).header["kid"]
    assert kid in {k["kid"] for k in keys}
    assert all("d" not in k for k in keys)


def test_token_endpoint_errors_are_rfc6749_json(node: tuple[World, TestClient]) -> None:
    world, client = node
    registered = world.client()
    answer = client.post("/auth/token", json=registered.form(epoch(world.clock)))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    form = registered.form(epoch(world.clock), exp=int(epoch(world.clock)) - 600)
    answer = client.post("/auth/token", data=form)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_without_a_token_the_api_answers_401_with_a_challenge(node: tuple[World, TestClient]) -> None:
    _, client = node
    answer = client.get("/fhir/Patient/x")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_short_scope_is_403(node: tuple[World, TestClient]) -> None:
    world, client = node
    token = token_for(world, client, scope="system/Patient.rs")
    assert client.get("/fhir/Patient", headers=bearer(token)).status_code == 200
    assert client.get("/fhir/AuditEvent", headers=bearer(token)).status_code == 403
    answer = client.post("/fhir/Patient", content=orjson.dumps(patient()), headers=FHIR | bearer(token))
    assert answer.status_code == 403


def _tamper(token: str) -> str:
    head, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "system/*.cruds"
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def _foreign(world: World, token: str) -> str:
    public = ECKey.import_key(world.auth.keyring.public_jwks()["keys"][0])
    claims = jwt.decode(token, public, algorithms=["ES384"]).claims
    other = ECKey.generate_key("P-384", private=True)
    kid = world.auth.keyring.signing_key()[0]
    return jwt.encode({"alg": "ES384", "kid": kid}, claims, other, algorithms=["ES384"])


def test_tampered_expired_and_foreign_tokens_are_401(node: tuple[World, TestClient]) -> None:
    world, client = node
    token = token_for(world, client)
    assert client.get("/fhir/Patient", headers=bearer(_tamper(token))).status_code == 401
    assert client.get("/fhir/Patient", headers=bearer(_foreign(world, token))).status_code == 401
    assert isinstance(world.clock, FixedClock)
    world.clock.advance(seconds=301)
    expired = client.get("/fhir/Patient", headers=bearer(token))
    assert expired.status_code == 401
    assert "expired" in expired.text
    refusals = [
        r.event["outcomeDesc"]
        for r in world.services.audit.scan()
        if r.event.get("outcome") == "8" and str(r.event.get("outcomeDesc", "")).startswith("bearer token")
    ]
    assert len(refusals) == 3  # each refused token is a security alert in the trail
    assert "expired" in refusals[-1]


def test_an_organisation_suspended_after_issue_is_refused_within_seconds(node: tuple[World, TestClient]) -> None:
    world, client = node
    token = token_for(world, client)
    assert client.get("/fhir/Patient", headers=bearer(token)).status_code == 200
    world.auth.organisations.suspend("LA0001", actor=ADMIN)
    assert isinstance(world.clock, FixedClock)
    world.clock.advance(seconds=3)
    answer = client.get("/fhir/Patient", headers=bearer(token))
    assert answer.status_code == 401
    assert "suspended" in answer.text


def test_a_client_revoked_after_issue_is_refused_within_seconds(node: tuple[World, TestClient]) -> None:
    world, client = node
    token = token_for(world, client)
    caller = world.auth.bearer.authenticate(f"Bearer {token}")
    world.auth.clients.revoke(caller.client_id, actor=ADMIN)
    assert isinstance(world.clock, FixedClock)
    world.clock.advance(seconds=3)
    assert client.get("/fhir/Patient", headers=bearer(token)).status_code == 401


def test_a_client_over_its_rate_gets_429_with_retry_after(node: tuple[World, TestClient]) -> None:
    world, client = node
    token = token_for(world, client)
    statuses = [client.get("/fhir/Patient", headers=bearer(token)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    answer = client.get("/fhir/Patient", headers=bearer(token))
    assert 1 <= int(answer.headers["retry-after"]) <= 60


def test_register_changes_over_http_need_the_admin_scope(node: tuple[World, TestClient]) -> None:
    world, client = node
    reader = token_for(world, client, scope="system/Patient.rs")
    new_org = {"ods": "PD0001", "name": "Police", "type": "police", "verified": True}
    assert client.post("/auth/register/organisations", json=new_org, headers=bearer(reader)).status_code == 403
    admin = token_for(world, client, scope="mais/admin")
    created = client.post("/auth/register/organisations", json=new_org, headers=bearer(admin))
    assert created.status_code == 201
    suspended = client.post("/auth/register/organisations/PD0001/suspend", headers=bearer(admin))
    assert suspended.json()["operational_status"] == "suspended"
    jwks = world.client(ods="LA0001").client.jwks
    added = client.post(
        "/auth/register/clients",
        json={"org": "LA0001", "scope": "system/Patient.rs", "jwks": jwks},
        headers=bearer(admin),
    )
    assert added.status_code == 201
    revoked = client.post(f"/auth/register/clients/{added.json()['client_id']}/revoke", headers=bearer(admin))
    assert revoked.json()["status"] == "revoked"
    listed = client.get("/auth/register/organisations", headers=bearer(admin)).json()
    assert {"NODE01", "LA0001", "PD0001"} <= {o["ods"] for o in listed}
    changes = [r.event for r in world.audit.records if r.event["type"]["code"] == "rest"]
    assert len(changes) >= 4


def test_each_token_in_a_row_is_its_own_and_each_is_audited(node: tuple[World, TestClient]) -> None:
    """Issuance speed is measured in bench/bench_auth.py (docs/performance.md), not here."""
    world, client = node
    registered = world.client()
    before = sum(1 for r in world.audit.records if r.event["type"]["code"] == "110114")
    answers = [client.post("/auth/token", data=registered.form(epoch(world.clock))) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert len({answer.json()["access_token"] for answer in answers}) == 5
    after = sum(1 for r in world.audit.records if r.event["type"]["code"] == "110114")
    assert after - before == 5


@pytest.fixture
def guarded(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[World, TestClient]]:
    """A node that takes three refused attempts per address per minute before it answers 429."""
    world = make_world(tmp_path, clock, refused_limit=3)
    world.organisation("LA0001")
    with TestClient(world.app()) as client:
        yield world, client
    world.close()


def test_junk_token_requests_past_the_limit_get_429_unrecorded_and_a_good_one_still_gets_its_token(
    guarded: tuple[World, TestClient],
) -> None:
    world, client = guarded
    registered = world.client()
    junk = registered.form(epoch(world.clock), exp=int(epoch(world.clock)) - 600)  # expired assertion
    answers = [client.post("/auth/token", data=junk) for _ in range(6)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429, 429]
    assert answers[3].json()["error"] == "invalid_request"
    assert 1 <= int(answers[3].headers["retry-after"]) <= 60
    refusals = world.refusals()
    assert len(refusals) == 4  # three refusals and the one that crossed the limit; the rest are not recorded
    assert "too many refused requests from this address" in refusals[-1]
    too_large = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/auth/token", content=b"x" * 20_000, headers=too_large).status_code == 429
    assert len(world.refusals()) == 4
    good = client.post("/auth/token", data=registered.form(epoch(world.clock)))
    assert good.status_code == 200
    world.clock.advance(seconds=60)
    assert client.post("/auth/token", data=junk).status_code == 401  # a new window
    assert len(world.refusals()) == 5


def test_bad_bearer_tokens_past_the_limit_get_429_unrecorded_and_a_good_token_still_reads(
    guarded: tuple[World, TestClient],
) -> None:
    world, client = guarded
    token = token_for(world, client)
    bad = {"Authorization": "Bearer not.a.token"}
    statuses = [client.get("/fhir/Patient", headers=bad).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    recorded = [
        r.event["outcomeDesc"]
        for r in world.services.audit.scan()
        if str(r.event.get("outcomeDesc", "")).startswith("bearer token:")
    ]
    assert len(recorded) == 4
    assert "too many refused requests from this address" in recorded[-1]
    throttled = client.get("/fhir/Patient", headers=bad)
    assert throttled.json()["resourceType"] == "OperationOutcome"
    assert throttled.json()["issue"][0]["code"] == "throttled"
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert client.get("/fhir/Patient", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("scope", ["system/*.rs", "system/AuditEvent.r system/AuditEvent.s", "system/*.cruds"])
def test_the_audit_trail_opens_to_any_scopes_that_cover_reading_it(node: tuple[World, TestClient], scope: str) -> None:
    world, client = node
    assert client.get("/fhir/AuditEvent", headers=bearer(token_for(world, client, scope=scope))).status_code == 200


def test_the_audit_trail_stays_closed_to_scopes_that_do_not_cover_it(node: tuple[World, TestClient]) -> None:
    world, client = node
    answer = client.get("/fhir/AuditEvent", headers=bearer(token_for(world, client, scope="system/AuditEvent.s")))
    assert answer.status_code == 403
    assert "system/AuditEvent.rs" in answer.json()["issue"][0]["diagnostics"]


OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def test_the_capability_statement_names_the_token_endpoint_in_its_smart_security(
    node: tuple[World, TestClient],
) -> None:
    """SMART App Launch: rest.security carries the oauth-uris extension, so a client can start from /metadata."""
    _, client = node
    security = client.get("/fhir/metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    (oauth,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in oauth["extension"]}
    discovery = client.get("/fhir/.well-known/smart-configuration").json()
    assert uris == {"token": discovery["token_endpoint"]}
    assert uris["token"] == TOKEN_URL

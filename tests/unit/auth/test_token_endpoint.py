"""The token endpoint's acceptance rules (SMART Backend Services; RFC 6749 §5.2 errors): every attack is refused
with the right error and leaves an audit record with the reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from mais_node.auth.token_endpoint import TokenResponse
from mais_node.clock import FixedClock
from tests.unit.auth.support import ADMIN, TOKEN_URL, Registered, World, epoch, sign_raw

FORM = "application/x-www-form-urlencoded"


def post(world: World, form: dict[str, str], media_type: str = FORM) -> TokenResponse:
    return world.auth.token_endpoint.handle(media_type, urlencode(form).encode(), "10.0.0.7")


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_registered_client_gets_a_short_lived_bearer_token_naming_its_organisation(world: World) -> None:
    client = world.client("ES384", scope="system/Patient.rs mais/enquiry")
    answer = post(world, client.form(epoch(world.clock), scope="system/Patient.rs mais/enquiry"))
    assert answer.status == 200
    assert answer.body["token_type"] == "bearer"
    assert answer.body["expires_in"] == 300
    assert answer.body["scope"] == "system/Patient.rs mais/enquiry"
    assert "refresh_token" not in answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    caller = world.auth.bearer.authenticate(f"Bearer {answer.body['access_token']}")
    assert (caller.client_id, caller.org_ods) == (client.client_id, "LA0001")
    issued = world.audit.records[-1].event
    assert issued["outcome"] == "0"
    assert issued["type"]["code"] == "110114"


def test_rs384_clients_are_accepted_too(world: World) -> None:
    client = world.client("RS384")
    assert post(world, client.form(epoch(world.clock))).status == 200


def test_a_narrower_scope_than_registered_is_granted(world: World) -> None:
    client = world.client(scope="system/*.cruds")
    answer = post(world, client.form(epoch(world.clock), scope="system/Patient.r"))
    assert answer.body["scope"] == "system/Patient.r"


Attack = Callable[[World, Registered, float], dict[str, str]]


def _foreign_key(world: World, client: Registered, now: float) -> dict[str, str]:
    other = ECKey.generate_key("P-384", private=True)
    claims: dict[str, Any] = {"iss": client.client_id, "sub": client.client_id, "aud": world.auth.token_url}
    claims |= {"exp": int(now) + 200, "jti": "j-foreign"}
    token = jwt.encode({"alg": "ES384", "kid": client.private_jwk["kid"]}, claims, other, algorithms=["ES384"])
    return client.form(now) | {"client_assertion": token}


def _alg_none(world: World, client: Registered, now: float) -> dict[str, str]:
    claims: dict[str, Any] = {"iss": client.client_id, "sub": client.client_id, "aud": world.auth.token_url}
    claims |= {"exp": int(now) + 200, "jti": "j-none"}
    token = f"{b64({'alg': 'none', 'kid': client.private_jwk['kid']})}.{b64(claims)}."
    return client.form(now) | {"client_assertion": token}


def _hmac_with_public_key(world: World, client: Registered, now: float) -> dict[str, str]:
    public = json.dumps(client.client.jwks["keys"][0] if client.client.jwks else {}).encode()
    claims: dict[str, Any] = {"iss": client.client_id, "sub": client.client_id, "aud": world.auth.token_url}
    claims |= {"exp": int(now) + 200, "jti": "j-hmac"}
    header = {"alg": "HS256", "kid": client.private_jwk["kid"]}
    token = jwt.encode(header, claims, OctKey.import_key(public), algorithms=["HS256"])
    return client.form(now) | {"client_assertion": token}


ATTACKS: dict[str, tuple[Attack, int, str, str]] = {
    "signature by another key": (_foreign_key, 401, "invalid_client", "signature does not verify"),
    "alg none": (_alg_none, 401, "invalid_client", "alg 'none' is not accepted"),
    "HS256 with the public key": (_hmac_with_public_key, 401, "invalid_client", "alg 'HS256' is not accepted"),
    "expired": (lambda w, c, now: c.form(now, exp=int(now) - 120), 401, "invalid_client", "expired"),
    "exp too far ahead": (lambda w, c, now: c.form(now, exp=int(now) + 3600), 401, "invalid_client", "five minutes"),
    "wrong aud": (
        lambda w, c, now: c.form(now, aud="https://elsewhere.example/token"),
        401,
        "invalid_client",
        "'aud'",
    ),
    "iss is not sub": (lambda w, c, now: c.form(now, sub="someone-else"), 401, "invalid_client", "differ"),
    "unknown client": (
        lambda w, c, now: c.form(now, iss="nobody", sub="nobody"),
        401,
        "invalid_client",
        "unknown client",
    ),
    "unknown kid": (
        lambda w, c, now: c.form(now) | {"client_assertion": c.assertion(now, header={"kid": "other"})},
        401,
        "invalid_client",
        "selects 0 keys",
    ),
    "no kid": (
        lambda w, c, now: c.form(now) | {"client_assertion": c.assertion(now, header={"kid": None})},
        401,
        "invalid_client",
        "no 'kid'",
    ),
    "no jti": (lambda w, c, now: c.form(now, jti=None), 401, "invalid_client", "'jti'"),
    "garbage assertion": (
        lambda w, c, now: c.form(now) | {"client_assertion": "not-a-jwt"},
        401,
        "invalid_client",
        "compact JWS",
    ),
    "scope not allowed": (lambda w, c, now: c.form(now, scope="mais/admin"), 400, "invalid_scope", "mais/admin"),
    "wrong grant type": (
        lambda w, c, now: c.form(now) | {"grant_type": "password"},
        400,
        "unsupported_grant_type",
        "unsupported_grant_type",
    ),
    "wrong assertion type": (
        lambda w, c, now: c.form(now) | {"client_assertion_type": "urn:x"},
        401,
        "invalid_client",
        "jwt-bearer",
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_attack_is_refused_with_its_error_and_audited(world: World, name: str) -> None:
    attack, status, error, reason = ATTACKS[name]
    client = world.client("ES384", scope="system/Patient.rs")
    before = len(world.audit.records)
    answer = post(world, attack(world, client, epoch(world.clock)))
    assert (answer.status, answer.body["error"]) == (status, error)
    assert "access_token" not in answer.body
    records = world.audit.records[before:]
    assert len(records) == 1
    event = records[0].event
    assert event["outcome"] == "8"
    assert reason in event["outcomeDesc"]


@pytest.mark.parametrize("missing", ["grant_type", "client_assertion_type", "client_assertion"])
def test_each_missing_parameter_is_an_invalid_request(world: World, missing: str) -> None:
    client = world.client()
    form = client.form(epoch(world.clock))
    del form[missing]
    answer = post(world, form)
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert missing in world.refusals()[-1]


def test_a_json_body_is_an_invalid_request(world: World) -> None:
    client = world.client()
    body = json.dumps(client.form(epoch(world.clock))).encode()
    answer = world.auth.token_endpoint.handle("application/json", body)
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")
    assert "x-www-form-urlencoded" in world.refusals()[-1]


def test_a_repeated_parameter_is_an_invalid_request(world: World) -> None:
    client = world.client()
    form = urlencode(client.form(epoch(world.clock))) + "&scope=system/*.cruds"
    answer = world.auth.token_endpoint.handle(FORM, form.encode())
    assert (answer.status, answer.body["error"]) == (400, "invalid_request")


def test_a_replayed_assertion_is_refused(world: World) -> None:
    client = world.client()
    form = client.form(epoch(world.clock))
    assert post(world, form).status == 200
    replay = post(world, form)
    assert (replay.status, replay.body["error"]) == (401, "invalid_client")
    assert "replay" in world.refusals()[-1]


def test_a_jti_may_be_used_again_once_its_lifetime_is_over(world: World, clock: FixedClock) -> None:
    client = world.client()
    assert post(world, client.form(epoch(clock), jti="same")).status == 200
    clock.advance(seconds=400)
    assert post(world, client.form(epoch(clock), jti="same")).status == 200


def test_a_revoked_client_is_refused(world: World) -> None:
    client = world.client()
    world.auth.clients.revoke(client.client_id, actor=ADMIN)
    answer = post(world, client.form(epoch(world.clock)))
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert "revoked" in world.refusals()[-1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"operational_status": "suspended"}, "operationally suspended"),
        ({"technical_status": "onboarding"}, "technically onboarding"),
        ({"verification_status": "rejected"}, "rejected"),
    ],
)
def test_an_organisation_that_may_not_connect_gets_no_token(world: World, change: dict[str, str], reason: str) -> None:
    client = world.client()
    world.auth.organisations.change("LA0001", actor=ADMIN, **change)
    answer = post(world, client.form(epoch(world.clock)))
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert reason in world.refusals()[-1]


def test_an_unverified_organisation_gets_no_token(world: World) -> None:
    world.organisation("LA0002", verified=False)
    client = world.client(ods="LA0002")
    answer = post(world, client.form(epoch(world.clock)))
    assert answer.status == 401
    assert "unverified" in world.refusals()[-1]


def test_a_refusal_names_the_claimed_client_in_the_audit_record(world: World) -> None:
    client = world.client()
    post(world, client.form(epoch(world.clock), exp=int(epoch(world.clock)) - 300))
    agents = world.audit.records[-1].event["agent"]
    assert any(client.client_id in json.dumps(agent) for agent in agents)


# RFC 7515 §4: a header parameter the node does not know is ignored unless ``crit`` names it. The SMART Bulk Data
# Tester signs {"alg", "typ", "kid", "kty"}; other clients add "x5t" or their own fields.
@pytest.mark.parametrize(
    "extra",
    [{"kty": "EC"}, {"x-vendor": {"build": 7}}, {"x5t": "bm90LWEtdGh1bWJwcmludA"}, {"cty": "JWT", "typ": "jwt"}],
    ids=["kty", "vendor-object", "x5t", "cty"],
)
def test_a_header_field_the_node_does_not_know_is_ignored(world: World, extra: dict[str, Any]) -> None:
    client = world.client("ES384")
    now = epoch(world.clock)
    answer = post(world, client.form(now) | {"client_assertion": client.assertion(now, header=extra)})
    assert answer.status == 200, answer.body


def test_a_registered_jwk_in_the_header_is_accepted(world: World) -> None:
    client = world.client("RS384")
    assert client.client.jwks is not None
    public = client.client.jwks["keys"][0]
    now = epoch(world.clock)
    answer = post(world, client.form(now) | {"client_assertion": client.assertion(now, header={"jwk": public})})
    assert answer.status == 200, answer.body


def test_a_registered_jku_is_accepted_and_only_it_is_fetched(world: World) -> None:
    from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
    from mais_node.auth.ports import FetchedJwks

    url = "https://partner.example/jwks.json"
    private = generate_private_jwk("ES384")
    world.fetcher.documents[url] = FetchedJwks(public_jwks(private), max_age=0)
    client = world.auth.clients.add("LA0001", ["system/Patient.rs"], jwks_uri=url, actor=ADMIN)
    registered = Registered(client, private, "ES384")
    now = epoch(world.clock)
    answer = post(world, registered.form(now) | {"client_assertion": registered.assertion(now, header={"jku": url})})
    assert answer.status == 200, answer.body


def _evil_jwks(world: World) -> tuple[str, ECKey]:
    """A JWKS URL an attacker controls, holding the attacker's key under the victim's kid: never to be fetched."""
    from mais_node.auth.ports import FetchedJwks

    evil = ECKey.generate_key("P-384", private=True)
    url = "http://127.0.0.1:9/evil.json"
    world.fetcher.documents[url] = FetchedJwks({"keys": [evil.as_dict(private=False)]}, max_age=0)
    return url, evil


def _signed_by(client: Registered, key: ECKey, now: float, header: dict[str, Any]) -> str:
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": TOKEN_URL, "exp": int(now) + 200}
    claims |= {"jti": f"j-{len(header)}-{sorted(header)[0]}"}
    head = {"alg": "ES384", "kid": client.private_jwk["kid"], "typ": "JWT"} | header
    return sign_raw(head, claims, key)


HEADER_REFUSALS: dict[str, tuple[Callable[[World, Registered, float], dict[str, Any]], str]] = {
    "crit names a field the node does not understand": (
        lambda w, c, now: {"crit": ["exp-extension"], "exp-extension": 1},
        "'crit' names 'exp-extension'",
    ),
    "crit names a field that is absent": (lambda w, c, now: {"crit": ["gone"]}, "'crit' names 'gone'"),
    "crit is empty": (lambda w, c, now: {"crit": []}, "'crit'"),
    "b64 false (RFC 7797)": (lambda w, c, now: {"b64": False, "crit": ["b64"]}, "'crit' names 'b64'"),
    "a jku other than the registered JWKS URL": (
        lambda w, c, now: {"jku": "https://elsewhere.example/jwks.json"},
        "'jku' is not the client's registered JWKS URL",
    ),
    "a jwk that is not the client's key": (
        lambda w, c, now: {"jwk": ECKey.generate_key("P-384", private=True).as_dict(private=False)},
        "'jwk' is not the client's registered key",
    ),
    "an x5u": (lambda w, c, now: {"x5u": "https://elsewhere.example/cert.pem"}, "'x5u'"),
    "an x5c": (lambda w, c, now: {"x5c": ["MIIB"]}, "'x5c'"),
    "a kid that is not a string": (lambda w, c, now: {"kid": 7}, "no 'kid'"),
    "a typ that is not a string": (lambda w, c, now: {"typ": 7}, "the assertion header is not valid: 'typ'"),
}


@pytest.mark.parametrize("name", list(HEADER_REFUSALS))
def test_a_header_problem_is_refused_as_a_header_problem_and_audited(world: World, name: str) -> None:
    header, reason = HEADER_REFUSALS[name]
    client = world.client("ES384")
    now = epoch(world.clock)
    assertion = client.assertion(now, header=header(world, client, now))
    before = len(world.audit.records)
    answer = post(world, client.form(now) | {"client_assertion": assertion})
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert reason in answer.body["error_description"]
    assert "signature" not in answer.body["error_description"]
    assert [r.event["outcomeDesc"] for r in world.audit.records[before:]] == [
        f"invalid_client: {answer.body['error_description']}"
    ]


def test_an_evil_jku_is_refused_before_anything_is_fetched(world: World) -> None:
    """SMART Backend Services: a jku must be the client's registered JWKS URL; another is never fetched."""
    client = world.client("ES384")
    url, evil = _evil_jwks(world)
    now = epoch(world.clock)
    answer = post(world, client.form(now) | {"client_assertion": _signed_by(client, evil, now, {"jku": url})})
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert "'jku' is not the client's registered JWKS URL" in answer.body["error_description"]
    assert world.fetcher.fetches == 0


def test_an_attackers_jwk_in_the_header_does_not_verify_its_own_signature(world: World) -> None:
    client = world.client("ES384")
    evil = ECKey.generate_key("P-384", private=True)
    now = epoch(world.clock)
    assertion = _signed_by(client, evil, now, {"jwk": evil.as_dict(private=False)})
    answer = post(world, client.form(now) | {"client_assertion": assertion})
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert "'jwk' is not the client's registered key" in answer.body["error_description"]


@pytest.mark.parametrize(
    "header",
    [{"alg": 'ES"384'}, {"crit": ['a"\\b§']}, {"alg": "\u00e9S384"}],
    ids=["quote-in-alg", "quote-in-crit", "non-ascii-alg"],
)
def test_a_refusal_quoting_the_header_keeps_to_the_characters_rfc6749_allows(
    world: World, header: dict[str, Any]
) -> None:
    """RFC 6749 §5.2: error_description is printable ASCII without '"' or '\\'; authlib raises on anything else."""
    client = world.client("ES384")
    now = epoch(world.clock)
    head = {"alg": "ES384", "kid": client.private_jwk["kid"]} | header
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": TOKEN_URL, "exp": int(now) + 200, "jti": "q"}
    signing_input = b64(head) + "." + b64(claims)
    answer = post(world, client.form(now) | {"client_assertion": signing_input + ".c2ln"})
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    description = answer.body["error_description"]
    assert all(0x20 <= ord(ch) <= 0x7E and ch not in '"\\' for ch in description)


@pytest.mark.parametrize("scope", [None, "", "  "], ids=["missing", "empty", "blank"])
def test_no_scope_is_invalid_scope(world: World, scope: str | None) -> None:
    """RFC 6749 §3.3 (no default scope here) and the SMART Bulk Data Tester's "Rejects empty scope"."""
    client = world.client()
    form = client.form(epoch(world.clock))
    if scope is None:
        del form["scope"]
    else:
        form["scope"] = scope
    answer = post(world, form)
    assert (answer.status, answer.body["error"]) == (400, "invalid_scope")
    assert "at least one scope" in world.refusals()[-1]


# SMART App Launch v2 §3.0.2.3: v1 scopes are read as the v2 scopes they mean, and granted back as understood.
@pytest.mark.parametrize(
    ("registered", "requested", "granted"),
    [
        ("system/*.cruds", "system/*.read", "system/*.rs"),
        ("system/*.cruds", "system/Patient.read", "system/Patient.rs"),
        ("system/*.cruds", "system/Patient.write", "system/Patient.cud"),
        ("system/*.cruds", "system/Task.*", "system/Task.cruds"),
        ("system/*.cruds", "system/*.*", "system/*.cruds"),
        ("system/*.cruds", "system/Patient.read system/Task.rs", "system/Patient.rs system/Task.rs"),
        ("system/Patient.rs system/Task.crs mais/enquiry", "system/*.read", "system/Patient.rs system/Task.rs"),
        ("system/Patient.rs", "system/*.*", "system/Patient.rs"),
        ("system/Patient.rs", "system/Patient.read mais/admin", "system/Patient.rs"),
        ("system/*.cruds", "system/Patient.read system/Observation.rs", "system/Patient.rs"),
        ("system/*.cruds", "launch/patient system/Patient.rs", "system/Patient.rs"),
        ("system/*.rs mais/enquiry", "mais/enquiry system/AuditEvent.read", "mais/enquiry system/AuditEvent.rs"),
    ],
)
def test_what_is_granted_is_what_the_registration_allows_of_what_was_asked(
    world: World, registered: str, requested: str, granted: str
) -> None:
    client = world.client(scope=registered)
    answer = post(world, client.form(epoch(world.clock), scope=requested))
    assert answer.status == 200, answer.body
    assert answer.body["scope"] == granted
    caller = world.auth.bearer.authenticate(f"Bearer {answer.body['access_token']}")
    assert caller.scopes == tuple(granted.split())
    assert world.audit.records[-1].event["outcome"] == "0"


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        ("launch fhirUser", "'launch': not a SMART system scope"),
        ("system/Observation.rs", "this node serves no Observation"),
        ("system/UnknownResource.read", "this node serves no UnknownResource"),
        ("system/Patient.unknownAction", "not a SMART system scope"),
        ("system/Patient.xyz", "not a SMART system scope"),
        ("system/Patient.sr", "not a SMART system scope"),
        ("system/Patient.rs?a=b", "not a SMART system scope"),
        ("patient/*.read", "not a SMART system scope"),
        ("system/Patient.write", "the client is not registered for it"),
    ],
)
def test_nothing_grantable_is_invalid_scope_naming_the_scope_and_why(world: World, requested: str, reason: str) -> None:
    client = world.client(scope="system/Patient.rs")
    answer = post(world, client.form(epoch(world.clock), scope=requested))
    assert (answer.status, answer.body["error"]) == (400, "invalid_scope")
    assert reason in answer.body["error_description"]
    assert reason in world.refusals()[-1]


def test_a_header_refusal_names_the_claimed_client_however_large_the_header(world: World) -> None:
    client = world.client()
    now = epoch(world.clock)
    header = {"crit": ["x-trace"], "x-trace": "t" * 600}  # past joserfc's 512-byte header limit
    post(world, client.form(now) | {"client_assertion": client.assertion(now, header=header)})
    event = world.audit.records[-1].event
    assert "'crit' names 'x-trace'" in event["outcomeDesc"]
    assert any(client.client_id in json.dumps(agent) for agent in event["agent"])


def test_a_client_id_parameter_must_name_the_client_of_the_assertion(world: World) -> None:
    """RFC 7521 §4.2: client_id is optional, but when sent it must identify the client the assertion identifies."""
    client = world.client()
    other = world.client()
    same = post(world, client.form(epoch(world.clock)) | {"client_id": client.client_id})
    assert same.status == 200
    answer = post(world, client.form(epoch(world.clock)) | {"client_id": other.client_id})
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert "'client_id' is not the client the assertion names" in world.refusals()[-1]

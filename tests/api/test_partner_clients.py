"""Partners' unmodified clients against a node listening on 127.0.0.1 (issue 12 items 1, 4, 9): fhirclient finds the
token endpoint from /metadata with an assertion whose header carries a field the node does not know (signed as the
SMART Bulk Data Tester signs, with joserfc), and authlib's requests client signs with private_key_jwt; both ask for
SMART v1 scopes. (authlib signs with joserfc's strict registry, so it cannot itself add an unregistered field.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from fhirclient import client as fhirclient
from fhirclient.models.patient import Patient
from joserfc import jwt
from joserfc.jws import JWSRegistry

from mais_node.clock import SystemClock
from tests.builders import patient
from tests.processes import free_port, serving_in_thread
from tests.unit.auth.support import Registered, World, make_world

# A JWS registry that, as RFC 7515 §4 allows, lets a client put fields of its own in the header.
LENIENT = JWSRegistry(algorithms=["ES384"], strict_check_header=False)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[World, str]]:
    """A node on its own port in this process (uvicorn in a thread), with LA0001 registered and one Patient."""
    base = f"http://127.0.0.1:{free_port()}"
    world = make_world(tmp_path, SystemClock(), base=base)
    world.organisation("LA0001")
    port = int(base.rsplit(":", 1)[1])
    try:
        with serving_in_thread(world.app(), port):
            yield world, base
    finally:
        world.close()


def stored_patient(world: World) -> str:
    return world.services.resources.create("Patient", patient()).stored.id


def bulk_data_tester_assertion(registered: Registered, token_url: str) -> str:
    """Signed as the SMART Bulk Data Tester signs: {"alg", "typ", "kid", "kty"}, five minutes ahead."""
    now = int(time.time())
    header = {"alg": "ES384", "typ": "JWT", "kid": registered.private_jwk["kid"], "kty": "EC"}
    claims = {"iss": registered.client_id, "sub": registered.client_id, "aud": token_url, "exp": now + 300}
    claims |= {"iat": now, "jti": uuid.uuid4().hex}
    return jwt.encode(header, claims, registered.key, algorithms=["ES384"], registry=LENIENT)


def test_fhirclient_finds_the_token_endpoint_from_metadata_and_reads_with_a_v1_scope(
    served: tuple[World, str],
) -> None:
    world, base = served
    registered = world.client("ES384", scope="system/Patient.rs mais/enquiry")
    pid = stored_patient(world)
    smart = fhirclient.FHIRClient(
        settings={
            "app_id": registered.client_id,
            "api_base": f"{base}/fhir",
            "jwt_token": bulk_data_tester_assertion(registered, world.auth.token_url),
            "scope": "system/Patient.read",
        }
    )
    assert not smart.prepare()  # read /metadata: an OAuth2 server, no token yet
    assert smart.server.auth.state["token_uri"] == world.auth.token_url
    smart.authorize()  # fhirclient asks for "launch/patient system/Patient.read": a backend gets what it means
    assert smart.ready
    assert smart.launch_context["scope"] == "system/Patient.rs"
    read = Patient.read(pid, smart.server)
    assert read.id == pid
    assert read.name[0].family == "Smith"


@pytest.mark.parametrize("asked", ["system/*.read", "system/Patient.read", "system/Patient.*"])
def test_authlibs_requests_client_with_private_key_jwt_and_a_v1_scope(served: tuple[World, str], asked: str) -> None:
    world, base = served
    registered = world.client("ES384", scope="system/Patient.rs")
    pid = stored_patient(world)
    token_url = world.auth.token_url
    # authlib signs exp an hour ahead unless told; SMART allows at most five minutes.
    method = PrivateKeyJWT(
        token_url,
        alg="ES384",
        headers={"kid": registered.private_jwk["kid"]},
        claims={"exp": int(time.time()) + 240},
    )
    with OAuth2Session(registered.client_id, registered.key, token_endpoint_auth_method=method, scope=asked) as oauth:
        token = oauth.fetch_token(token_url, grant_type="client_credentials")
        read = oauth.get(f"{base}/fhir/Patient/{pid}", headers={"Accept": "application/fhir+json"})
    assert token["scope"] == "system/Patient.rs"  # what the registration allows of what was asked, as v2
    assert read.status_code == 200, read.text
    assert read.json()["id"] == pid

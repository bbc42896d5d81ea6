"""Issue 16 §2: signing in to the console with a real OpenID provider (npm oidc-provider, started per module).

The node runs in process (httpx over ASGITransport); the provider is a real process on a loopback port, and the
node's discovery, code exchange and key fetch go to it over TCP. A person is walked through the provider's own login
form; refusals (no role, a bad or replayed state, the provider's error, another issuer) start no session and are
audited. The ID token checks (signature, iss, aud, nonce, exp) run on tokens the provider really signed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from joserfc.jwk import KeySet, RSAKey

from mais_node.app import create_app
from mais_node.audit.query import parse_audit_query
from mais_node.config import Settings
from mais_node.console.oidc import CallbackFailed, OidcSettingsError, check_id_token, parse_role_map
from mais_node.wiring import Services, build_services
from tests.oidc.provider import CLIENT_ID, CLIENT_SECRET, MISSING, login_form, provider
from tests.processes import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(bool(MISSING), reason=MISSING or "-")]
BASE = "http://127.0.0.1:8080"
CALLBACK = f"{BASE}/console/oidc/callback"
ROLE_MAP = "ig=ig-officer,audit=auditor"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with provider(free_port(), [CALLBACK]) as url:
        yield url


class Person:
    """A browser: one cookie jar for the node (in process) and one for the provider (over TCP)."""

    def __init__(self, node: httpx.AsyncClient, services: Services, issuer: str) -> None:
        self.node, self.services, self.issuer = node, services, issuer
        self.idp = httpx.AsyncClient(timeout=10)

    async def to_callback(self, login: str, *, cancel: bool = False) -> str:
        """Start at the node, sign in at the provider's login form; the callback URL the provider sends us to."""
        start = await self.node.get("/console/oidc/start", params={"next": "/console/reviews"})
        assert start.status_code == 303, start.text
        where = start.headers["location"]
        query = parse_qs(urlsplit(where).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["code_challenge"][0]
        assert query["state"][0]
        assert query["nonce"][0]
        assert query["client_id"] == [CLIENT_ID]
        page = await self._follow(where)
        action, hidden = login_form(page.text)
        if cancel:
            found = re.search(r'href="([^"]+/abort)"', page.text)
            assert found, page.text
            answer = await self.idp.get(found.group(1))
        else:
            answer = await self.idp.post(action, data={**hidden, "login": login, "password": "any"})
        for _ in range(8):
            location = answer.headers.get("location", "")
            if location.startswith(BASE):
                return location
            assert answer.status_code in (302, 303), answer.text[:500]
            answer = await self.idp.get(location if location.startswith("http") else self.issuer + location)
        raise AssertionError("the provider never sent us back to the node")

    async def _follow(self, url: str) -> httpx.Response:
        answer = await self.idp.get(url)
        while answer.status_code in (302, 303):
            location = answer.headers["location"]
            answer = await self.idp.get(location if location.startswith("http") else self.issuer + location)
        return answer

    async def callback(self, url: str) -> httpx.Response:
        parts = urlsplit(url)
        return await self.node.get(f"{parts.path}?{parts.query}")

    def sign_ins(self, outcome: str) -> list[dict[str, Any]]:
        query = parse_audit_query((("subtype", "110122"), ("outcome", outcome)))
        return [r.event for r in self.services.audit.search(query).records]


async def _person(tmp_path: Path, issuer: str, **settings: Any) -> AsyncIterator[Person]:
    values: dict[str, Any] = {
        "console_oidc_issuer": issuer,
        "console_oidc_client_id": CLIENT_ID,
        "console_oidc_client_secret": CLIENT_SECRET,
        "console_oidc_role_map": ROLE_MAP,
        "console_oidc_name": "Test Council",
    }
    config = Settings(store=f"sqlite:///{tmp_path / 'node.db'}", **(values | settings))
    services = build_services(config)
    app = create_app(config, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as node:
        person = Person(node, services, issuer)
        try:
            yield person
        finally:
            await person.idp.aclose()
    services.close()


@pytest.fixture
async def person(tmp_path: Path, issuer: str) -> AsyncIterator[Person]:
    async for p in _person(tmp_path, issuer):
        yield p


async def test_the_sign_in_page_offers_the_provider(person: Person) -> None:
    page = await person.node.get("/console/sign-in?next=/console/audit")
    assert page.status_code == 200
    assert 'href="/console/oidc/start?next=/console/audit"' in page.text
    assert "Sign in with Test Council" in page.text
    assert 'id="password"' in page.text  # local accounts stay


async def test_an_ig_officer_signs_in_with_the_provider_and_it_is_audited(person: Person) -> None:
    planted = "a-session-token-someone-planted"
    person.node.cookies.set("mais_console", planted, domain="127.0.0.1", path="/console")
    url = await person.to_callback("ig.officer")
    done = await person.callback(url)
    assert done.status_code == 200, done.text
    assert '<meta http-equiv="refresh" content="0;url=/console/reviews">' in done.text
    cookies = done.headers.get_list("set-cookie")
    [session] = [c for c in cookies if c.startswith("mais_console=")]
    assert "HttpOnly" in session
    assert "SameSite=strict" in session
    assert "Path=/console" in session
    assert planted not in session  # rotated: a new token, never the one the browser came with
    assert any(c.startswith("mais_console_oidc=") and "Max-Age=0" in c for c in cookies)  # the flow's cookie ended
    queue = await person.node.get("/console/reviews")
    assert queue.status_code == 200, queue.text
    assert "Ida Officer" in queue.text
    assert (await person.node.get("/console/audit")).status_code == 403  # an IG officer is not an auditor
    [login] = person.sign_ins("0")
    [agent] = [a for a in login["agent"] if a.get("who", {}).get("identifier", {}).get("system") == person.issuer]
    assert agent["who"]["identifier"] == {"system": person.issuer, "value": "ig.officer"}
    assert agent["name"] == "Ida Officer"
    assert agent["role"][0]["coding"][0]["code"] == "ig-officer"


async def test_the_callback_works_once(person: Person) -> None:
    url = await person.to_callback("auditor")
    assert (await person.callback(url)).status_code == 200
    again = await person.callback(url)
    assert again.status_code == 400
    assert "You could not be signed in" in again.text
    assert not [c for c in again.headers.get_list("set-cookie") if c.startswith("mais_console=")]
    assert any("no sign-in was started" in e["outcomeDesc"] for e in person.sign_ins("4"))


@pytest.mark.parametrize("login", ["nobody", "someone.else"])
async def test_a_person_whose_claim_maps_to_no_role_is_refused(person: Person, login: str) -> None:
    url = await person.to_callback(login)
    refused = await person.callback(url)
    assert refused.status_code == 403
    assert "You cannot use the console" in refused.text
    assert not [c for c in refused.headers.get_list("set-cookie") if c.startswith("mais_console=")]
    assert (await person.node.get("/console")).status_code == 303  # still signed out
    [event] = person.sign_ins("4")
    people = [a.get("who", {}).get("identifier") for a in event["agent"]]
    assert {"system": person.issuer, "value": login} in people
    assert "no console role" in event["outcomeDesc"]


async def test_a_callback_with_another_state_is_refused(person: Person) -> None:
    url = await person.to_callback("ig.officer")
    forged = re.sub(r"state=[^&]+", "state=forged", url)
    refused = await person.callback(forged)
    assert refused.status_code == 400
    assert not [c for c in refused.headers.get_list("set-cookie") if c.startswith("mais_console=")]
    assert any("state does not match" in e["outcomeDesc"] for e in person.sign_ins("4"))
    assert (await person.callback(url)).status_code == 400  # the flow it belonged to is over too


async def test_a_callback_in_a_browser_that_started_nothing_is_refused(person: Person) -> None:
    url = await person.to_callback("ig.officer")
    person.node.cookies.clear()
    refused = await person.callback(url)
    assert refused.status_code == 400
    assert not person.sign_ins("0")


async def test_the_providers_error_is_a_page_and_audited(person: Person) -> None:
    url = await person.to_callback("ig.officer", cancel=True)
    assert "error=access_denied" in url
    refused = await person.callback(url)
    assert refused.status_code == 400
    assert "You could not be signed in" in refused.text
    assert any("access_denied" in e["outcomeDesc"] for e in person.sign_ins("4"))


async def test_a_provider_naming_another_issuer_is_refused(tmp_path: Path, issuer: str) -> None:
    alias = issuer.replace("127.0.0.1", "localhost")  # the same server, so its discovery names another issuer
    async for person in _person(tmp_path, alias):
        refused = await person.node.get("/console/oidc/start")
        assert refused.status_code == 503
        assert "You could not be signed in" in refused.text
        assert any("names another issuer" in e["outcomeDesc"] for e in person.sign_ins("4"))


# The ID token checks, on tokens the provider signed (got straight from it, as the node's exchange does).


@pytest.fixture(scope="module")
def signed(issuer: str) -> tuple[str, KeySet]:
    client = OAuth2Client(
        CLIENT_ID, CLIENT_SECRET, redirect_uri=CALLBACK, scope="openid profile", code_challenge_method="S256"
    )
    verifier = "v" * 64
    url, _ = client.create_authorization_url(f"{issuer}/auth", state="s", nonce="the-nonce", code_verifier=verifier)
    with httpx.Client(timeout=10) as http:
        answer = http.get(url)
        while "location" in answer.headers and not answer.headers["location"].startswith(BASE):
            location = answer.headers["location"]
            answer = http.get(location if location.startswith("http") else issuer + location)
            if answer.status_code == 200:
                action, hidden = login_form(answer.text)
                answer = http.post(action, data={**hidden, "login": "ig.officer", "password": "any"})
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        keys = KeySet.import_key_set(http.get(f"{issuer}/jwks").json())
    token = client.fetch_token(f"{issuer}/token", code=code, code_verifier=verifier)
    client.close()
    return str(token["id_token"]), keys


def test_a_good_id_token_passes(signed: tuple[str, KeySet], issuer: str) -> None:
    id_token, keys = signed
    claims = check_id_token(id_token, keys, issuer=issuer, client_id=CLIENT_ID, nonce="the-nonce")
    assert claims["sub"] == "ig.officer"
    assert claims["roles"] == ["ig"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"client_id": "another-client"}, "aud"),
        ({"issuer": "https://idp.example.org"}, "iss"),
        ({"nonce": "another-nonce"}, "nonce"),
        ({"now": time.time() + 2 * 86400}, "exp"),
    ],
)
def test_an_id_token_for_another_audience_issuer_nonce_or_time_is_refused(
    signed: tuple[str, KeySet], issuer: str, change: dict[str, Any], why: str
) -> None:
    id_token, keys = signed
    values: dict[str, Any] = {"issuer": issuer, "client_id": CLIENT_ID, "nonce": "the-nonce"} | change
    with pytest.raises(CallbackFailed, match=why):
        check_id_token(id_token, keys, **values)


def test_an_id_token_not_signed_by_the_provider_is_refused(signed: tuple[str, KeySet], issuer: str) -> None:
    id_token, keys = signed
    stranger = KeySet([RSAKey.generate_key(2048, parameters={"kid": keys.keys[0].kid})])
    with pytest.raises(CallbackFailed, match="signature"):
        check_id_token(id_token, stranger, issuer=issuer, client_id=CLIENT_ID, nonce="the-nonce")
    head, body, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    changed = base64.urlsafe_b64encode(json.dumps(claims | {"roles": ["audit"]}).encode()).rstrip(b"=").decode()
    with pytest.raises(CallbackFailed, match="signature"):
        check_id_token(f"{head}.{changed}.{signature}", keys, issuer=issuer, client_id=CLIENT_ID, nonce="the-nonce")


# Bad settings: `mais serve` (and `mais demo`, before it seeds anything) says what is wrong in one line and exits 2.


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"MAIS_CONSOLE_OIDC_ISSUER": "https://idp.example.org"}, "MAIS_CONSOLE_OIDC_CLIENT_ID"),
        (
            {
                "MAIS_CONSOLE_OIDC_ISSUER": "https://idp.example.org",
                "MAIS_CONSOLE_OIDC_CLIENT_ID": "c",
                "MAIS_CONSOLE_OIDC_ROLE_MAP": "ig:ig-officer",
            },
            "is not IDP_VALUE=ROLE",
        ),
        (
            {
                "MAIS_CONSOLE_OIDC_ISSUER": "http://idp.example.org",
                "MAIS_CONSOLE_OIDC_CLIENT_ID": "c",
                "MAIS_CONSOLE_OIDC_ROLE_MAP": "ig=ig-officer",
            },
            "not an https URL",
        ),
    ],
)
@pytest.mark.parametrize("command", ["serve", "demo"])
def test_bad_oidc_settings_stop_serve_in_one_line(tmp_path: Path, env: dict[str, str], says: str, command: str) -> None:
    store = f"sqlite:///{tmp_path / 'node.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "mais_node", command, "--store", store, "--port", str(free_port())],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "node.db").exists()  # nothing seeded, nothing written
    assert not (tmp_path / "var").exists()


def test_a_role_map_onto_no_console_role_is_refused() -> None:
    assert parse_role_map(" ig = ig-officer , audit=auditor,") == {"ig": "ig-officer", "audit": "auditor"}
    with pytest.raises(OidcSettingsError, match="no console role"):
        parse_role_map("ig=superuser")

"""Signing in to the console with the organisation's identity provider (issue 16 §2, DESIGN §12).

The authorization code flow with PKCE (S256), state and nonce, through authlib's httpx client; the provider's
endpoints and keys from its ``/.well-known/openid-configuration``; the ID token's signature, ``iss``, ``aud``,
``exp`` and ``nonce`` checked with joserfc. The person's role comes from a configured claim, mapped onto the
console's roles; a person whose claim maps to none is refused. The flow's state, nonce and code verifier wait in
the session store (ten minutes, used once), keyed by the SHA-256 of a cookie's token, so any replica can finish it.
Every sign-in and every failed callback is audited; a failure starts no session.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error
from fastapi import APIRouter, Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.responses import Response

from mais_node.audit import balp
from mais_node.audit.actors import Actor
from mais_node.config import Settings
from mais_node.console.people import ROLES, Person, Session, session_extra
from mais_node.console.sessions import key_of
from mais_node.console.web import SESSION_COOKIE, Console, ConsoleDep, error_page, is_loopback, render, safe_next

router = APIRouter(prefix="/console/oidc", include_in_schema=False)

PENDING_COOKIE = "mais_console_oidc"
PENDING_SECONDS = 600.0
TIMEOUT = 10.0
LEEWAY = 60  # seconds of clock difference allowed on exp / iat
SCOPE = "openid profile"
SIGNATURE_FAILED = "ID token signature not verified"
KEYS_FOR = 300.0  # seconds the provider's key set is reused; a token signed by a key not in it fetches it again


class OidcSettingsError(ValueError):
    """The OIDC settings cannot work; the message names what to set."""


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    role_claim: str
    role_map: dict[str, str]
    redirect_url: str
    name: str


def parse_role_map(text: str) -> dict[str, str]:
    """``ig=ig-officer,audit=auditor`` as a mapping of IdP values onto console roles; OidcSettingsError if bad."""
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        idp, sep, role = (s.strip() for s in item.partition("="))
        if not sep or not idp or not role:
            raise OidcSettingsError(
                f"MAIS_CONSOLE_OIDC_ROLE_MAP entry {item!r} is not IDP_VALUE=ROLE;"
                " set it like ig=ig-officer,audit=auditor"
            )
        if role not in ROLES:
            raise OidcSettingsError(
                f"MAIS_CONSOLE_OIDC_ROLE_MAP maps {idp!r} onto {role!r}, which is no console role;"
                f" use one of {', '.join(ROLES)}"
            )
        mapping[idp] = role
    return mapping


def oidc_config(settings: Settings) -> OidcConfig | None:
    """The console's OIDC settings, or None when no issuer is set; OidcSettingsError saying what to set."""
    issuer = settings.console_oidc_issuer.strip().rstrip("/")
    if not issuer:
        return None
    parts = urlsplit(issuer)
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(issuer))):
        raise OidcSettingsError(
            f"MAIS_CONSOLE_OIDC_ISSUER {issuer!r} is not an https URL (http only to loopback);"
            " set the provider's issuer URL"
        )
    if not settings.console_oidc_client_id.strip():
        raise OidcSettingsError(
            "MAIS_CONSOLE_OIDC_ISSUER is set but MAIS_CONSOLE_OIDC_CLIENT_ID is not; set the console's client id"
            " at the provider (or unset the issuer)"
        )
    role_map = parse_role_map(settings.console_oidc_role_map)
    if not role_map:
        raise OidcSettingsError(
            "MAIS_CONSOLE_OIDC_ROLE_MAP is empty, so nobody could sign in with the provider; set it like"
            " ig=ig-officer,audit=auditor"
        )
    if not settings.console_oidc_role_claim.strip():
        raise OidcSettingsError("MAIS_CONSOLE_OIDC_ROLE_CLAIM is empty; set the ID token claim holding the roles")
    redirect = settings.console_oidc_redirect_url.strip() or f"{settings.public_base}/console/oidc/callback"
    if urlsplit(redirect).scheme not in ("http", "https") or not urlsplit(redirect).hostname:
        raise OidcSettingsError(
            f"MAIS_CONSOLE_OIDC_REDIRECT_URL {redirect!r} is not a URL; set the callback URL registered at the provider"
        )
    return OidcConfig(
        issuer=issuer,
        client_id=settings.console_oidc_client_id.strip(),
        client_secret=settings.console_oidc_client_secret,
        role_claim=settings.console_oidc_role_claim.strip(),
        role_map=role_map,
        redirect_url=redirect,
        name=settings.console_oidc_name.strip() or (parts.hostname or issuer),
    )


class CallbackFailed(Exception):
    """A callback that cannot sign anyone in: ``reason`` for the audit, the page says less."""


class NoRole(Exception):
    def __init__(self, person: Person, values: list[str]) -> None:
        super().__init__(person.name)
        self.person, self.values = person, values


def check_id_token(
    id_token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str, now: float | None = None
) -> dict[str, Any]:
    """The claims of an ID token whose signature, iss, aud, exp and nonce are right; CallbackFailed otherwise."""
    try:
        token = jwt.decode(id_token, keys, algorithms=["RS256", "PS256", "ES256", "ES384", "EdDSA"])
    except (JoseError, ValueError) as exc:
        raise CallbackFailed(f"{SIGNATURE_FAILED} ({type(exc).__name__})") from exc
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=int(now if now is not None else time.time()),
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise CallbackFailed(f"ID token refused: {exc.error} {exc.description or ''}".strip()) from exc
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
        raise CallbackFailed("ID token refused: several audiences and azp is not this client")
    return dict(claims)


@dataclass
class Provider:
    """The identity provider: its discovered metadata (cached), its key set (cached for ``KEYS_FOR``, fetched
    again at once when a token names a key it does not hold: the provider rotated) and the flow's two exchanges."""

    config: OidcConfig
    transport: httpx.AsyncBaseTransport | None = None
    _metadata: dict[str, Any] = field(default_factory=dict)
    _keys: tuple[float, KeySet] | None = None  # (monotonic time fetched, the set)
    key_fetches: int = 0  # how many times the key set was fetched (the cache's effect, for tests)

    def _client(self, **kwargs: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret or None,
            token_endpoint_auth_method="client_secret_basic" if self.config.client_secret else "none",
            redirect_uri=self.config.redirect_url,
            scope=SCOPE,
            code_challenge_method="S256",
            timeout=TIMEOUT,
            transport=self.transport,
            **kwargs,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata:
            return self._metadata
        url = f"{self.config.issuer}/.well-known/openid-configuration"
        async with httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport) as client:
            try:
                response = await client.get(url)
                response.raise_for_status()
                doc = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise CallbackFailed(f"discovery at {url} failed ({type(exc).__name__})") from exc
        if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != self.config.issuer:
            raise CallbackFailed(f"discovery at {url} names another issuer ({str(doc.get('issuer'))[:200]!r})")
        for need in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(need), str):
                raise CallbackFailed(f"discovery at {url} has no {need}")
        self._metadata = doc
        return doc

    def cached_keys(self) -> KeySet | None:
        if self._keys is not None and time.monotonic() - self._keys[0] < KEYS_FOR:
            return self._keys[1]
        return None

    async def keys(self) -> KeySet:
        """The provider's key set as it publishes it now (and cached from now)."""
        uri = (await self.metadata())["jwks_uri"]
        self.key_fetches += 1
        async with httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport) as client:
            try:
                response = await client.get(uri)
                response.raise_for_status()
                keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                raise CallbackFailed(f"the provider's keys at {uri} could not be read ({type(exc).__name__})") from exc
        self._keys = (time.monotonic(), keys)
        return keys

    async def checked(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, checked against the cached key set, or against a fresh one when the cached set
        does not verify it (a rotated key); CallbackFailed if neither does."""
        issuer, client_id = self.config.issuer, self.config.client_id
        cached = self.cached_keys()
        if cached is not None:
            try:
                return check_id_token(id_token, cached, issuer=issuer, client_id=client_id, nonce=nonce)
            except CallbackFailed as exc:
                if not str(exc).startswith(SIGNATURE_FAILED):
                    raise
        return check_id_token(id_token, await self.keys(), issuer=issuer, client_id=client_id, nonce=nonce)

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        async with self._client() as client:
            url, _ = client.create_authorization_url(endpoint, state=state, code_verifier=verifier, nonce=nonce)
        return str(url)

    async def id_token_claims(self, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        endpoint = (await self.metadata())["token_endpoint"]
        async with self._client() as client:
            try:
                token = await client.fetch_token(endpoint, code=code, code_verifier=verifier)
            except (OAuth2Error, httpx.HTTPError, ValueError) as exc:
                raise CallbackFailed(f"the code exchange failed ({str(exc)[:200]})") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise CallbackFailed("the token response has no ID token")
        return await self.checked(id_token, nonce)

    def person(self, claims: dict[str, Any]) -> Person:
        """The person of an ID token's claims, with the console role their claim maps onto; NoRole if none does."""
        raw = claims.get(self.config.role_claim)
        values = [raw] if isinstance(raw, str) else [str(v) for v in raw] if isinstance(raw, list) else []
        roles = [self.config.role_map[v] for v in values if v in self.config.role_map]
        sub = str(claims["sub"])
        name = str(claims.get("name") or claims.get("preferred_username") or sub)
        person = Person(
            name=sub, role="", password_hash="", created="", display_name=name[:200], issuer=self.config.issuer
        )
        if not roles:
            raise NoRole(person, values)
        # Several mapped values: the first in the console's own order of roles, so the choice never depends on
        # the order the provider lists them in.
        role = min(roles, key=list(ROLES).index)
        return replace(person, role=role)


def provider_of(console: Console) -> Provider | None:
    provider: Provider | None = getattr(console, "oidc", None)
    return provider


def _cookie(console: Console, response: Response, token: str) -> None:
    # Lax, not Strict: the provider's redirect back is a navigation from another site, which must carry it.
    response.set_cookie(
        PENDING_COOKIE,
        token,
        max_age=int(PENDING_SECONDS),
        path="/console/oidc",
        httponly=True,
        samesite="lax",
        secure=console.secure_cookies,
    )


def _audit(console: Console, request: Request, actor: Actor | None, *, outcome: str, reason: str) -> None:
    address = request.client.host if request.client else None
    actor = actor or Actor(org_ods=console.services.settings.node_org, address=address)
    console.record(
        balp.console_sign_in(
            console.services.node, console.services.clock.now(), actor, kind="login", outcome=outcome, reason=reason
        )
    )


def _failed(request: Request, console: Console, reason: str, *, status: int = 400) -> Response:
    _audit(console, request, None, outcome="4", reason=f"OIDC: {reason}"[:500])
    response = render(
        request,
        "error.html",
        status=status,
        title="You could not be signed in",
        message="Signing in with your organisation's account did not work. Go back to the sign-in page and try again;"
        " if it keeps failing, tell your administrator.",
    )
    response.delete_cookie(PENDING_COOKIE, path="/console/oidc")
    return response


@router.get("/start")
async def start(request: Request, console: ConsoleDep, next: str = "") -> Response:
    provider = provider_of(console)
    if provider is None:
        return error_page(request, 404, "There is no such page in the console.")
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    try:
        url = await provider.authorization_url(state, nonce, verifier)
    except CallbackFailed as exc:
        return _failed(request, console, str(exc), status=503)
    token = secrets.token_urlsafe(32)
    now = console.services.clock.now().timestamp()
    extra = {"kind": "oidc-pending", "nonce": nonce, "verifier": verifier, "next": safe_next(next)}
    console.sessions.store.put_session(Session(key_of(token), "", state, now, now, now + PENDING_SECONDS, extra))
    response = Response(status_code=303, headers={"Location": url})
    _cookie(console, response, token)
    return response


@router.get("/callback")
async def callback(request: Request, console: ConsoleDep) -> Response:
    provider = provider_of(console)
    if provider is None:
        return error_page(request, 404, "There is no such page in the console.")
    params = request.query_params
    token = request.cookies.get(PENDING_COOKIE, "")
    pending = console.sessions.store.get_session(key_of(token)) if token else None
    if pending is not None:
        console.sessions.store.delete_session(pending.key)  # used once, whatever happens next
    now = console.services.clock.now().timestamp()
    if pending is None or pending.extra.get("kind") != "oidc-pending" or now >= pending.expires:
        return _failed(request, console, "no sign-in was started in this browser, or it expired")
    if not secrets.compare_digest(pending.csrf.encode(), params.get("state", "").encode()):
        return _failed(request, console, "the state does not match the sign-in this browser started")
    if params.get("iss", provider.config.issuer).rstrip("/") != provider.config.issuer:  # RFC 9207: a mix-up
        return _failed(request, console, f"the response names another issuer ({params.get('iss', '')[:200]!r})")
    if "error" in params:
        return _failed(request, console, f"the provider said {params.get('error', '')[:100]!r}")
    code = params.get("code", "")
    if not code:
        return _failed(request, console, "the provider sent no code")
    try:
        claims = await provider.id_token_claims(code, pending.extra["verifier"], pending.extra["nonce"])
        person = provider.person(claims)
    except CallbackFailed as exc:
        return _failed(request, console, str(exc))
    except NoRole as refused:
        actor = console.person_actor(refused.person, address=request.client.host if request.client else None)
        shown = ", ".join(refused.values)[:200] or "none"
        _audit(console, request, actor, outcome="4", reason=f"OIDC: no console role for {shown}"[:500])
        response = render(
            request,
            "error.html",
            status=403,
            title="You cannot use the console",
            message=f"You signed in as {refused.person.display_name}, but your organisation has not given your"
            " account a role in this console. Ask your administrator for one.",
        )
        response.delete_cookie(PENDING_COOKIE, path="/console/oidc")
        return response
    session_token, _ = console.sessions.start(
        f"oidc:{person.name}", replacing=request.cookies.get(SESSION_COOKIE), extra=session_extra(person)
    )
    actor = console.person_actor(person, address=request.client.host if request.client else None)
    _audit(console, request, actor, outcome="0", reason="signed in with the identity provider")
    next_path = pending.extra.get("next", "/console")
    # A page, not a redirect: after the provider's cross-site redirect, a further redirect would not carry the
    # SameSite=Strict session cookie; a page of this site moving on does.
    response = render(request, "signed_in.html", next_path=next_path, name=person.display_name)
    response.set_cookie(
        SESSION_COOKIE,
        session_token,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=console.secure_cookies,
    )
    response.delete_cookie(PENDING_COOKIE, path="/console/oidc")
    return response

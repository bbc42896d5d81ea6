"""The token endpoint of SMART Backend Services (RFC 6749 §4.4 client credentials, RFC 7523 §2.2 private_key_jwt).

authlib's framework-neutral ``AuthorizationServer`` runs the flow (grant dispatch, client authentication, scope
check, RFC 6749 §5.2 error bodies); the assertion is checked by ``AssertionVerifier`` (joserfc) and the access
token is a JWT signed by the node's key ring. No web framework here: ``TokenEndpoint.handle`` takes the request's
media type and body and returns status, JSON body and headers. Every token issued or refused is audited, but for
refusals past the per-address limit of ``RefusalThrottle`` (429; the one that crosses the limit is audited).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from joserfc import jwt

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node
from mais_node.audit.port import AuditSink
from mais_node.auth import scopes
from mais_node.auth.assertion import AssertionRefused, AssertionVerifier, unverified_issuer
from mais_node.auth.keyring import ALGORITHM, NodeKeyRing
from mais_node.auth.refusals import UNCOUNTED, Refusal, RefusalThrottle
from mais_node.clock import Clock
from mais_node.register.model import Client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"
PARAMETERS = ("grant_type", "scope", "client_assertion_type", "client_assertion")
LIFETIME = 300


@dataclass(frozen=True, slots=True)
class TokenResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _FormRequest(OAuth2Request):  # type: ignore[misc]
    """authlib's request for a form-encoded POST, with what the audit record needs."""

    def __init__(self, uri: str, form: dict[str, str], address: str | None) -> None:
        super().__init__("POST", uri)
        self.payload = BasicOAuth2Payload(form)
        self._form = form
        self.address = address
        self.claimed: AssertionRefused | None = None

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _AuthlibClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: Client) -> None:
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "private_key_jwt" and endpoint == "token"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]

    def validate_token_request(self) -> None:
        form = self.request.form
        for name in ("client_assertion_type", "client_assertion"):
            if not form.get(name):
                raise InvalidRequestError(f"Missing '{name}'")
        if form["client_assertion_type"] != ASSERTION_TYPE:
            raise InvalidClientError(description="client_assertion_type must be jwt-bearer", status_code=401)
        super().validate_token_request()

    def validate_requested_scope(self) -> None:
        """RFC 6749 §3.3: grant what the client's registration allows of what it asked (v1 scopes read as v2); no
        scope at all, or nothing grantable, is invalid_scope naming the first scope not granted and why."""
        requested = scopes.split(self.request.form.get("scope"))
        if not requested:
            raise InvalidScopeError(described("Ask for at least one scope, e.g. system/Patient.rs"))
        decided = scopes.grant(requested, self.request.client.client.scopes)
        if not decided.granted:
            scope, why = decided.not_granted[0]
            raise InvalidScopeError(described(f"The client may not ask for '{scope[:80]}': {why}"))
        # authlib issues the token for payload.scope: what is granted replaces what was asked (RFC 6749 §5.1).
        self.request.payload = BasicOAuth2Payload(self.request.form | {"scope": " ".join(decided.granted)})


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, endpoint: TokenEndpoint) -> None:
        super().__init__(scopes_supported=[s.scope for s in scopes.SCOPES])
        self.endpoint = endpoint
        self.register_client_auth_method("private_key_jwt", self._authenticate)
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", self._generate)

    def query_client(self, client_id: str) -> _AuthlibClient | None:
        client = self.endpoint.verifier.clients.get(client_id)
        return _AuthlibClient(client) if client is not None else None

    def _authenticate(self, query_client: Any, request: _FormRequest) -> _AuthlibClient:
        try:
            authenticated = self.endpoint.verifier.verify(request.form["client_assertion"])
        except AssertionRefused as refused:
            request.claimed = refused
            raise InvalidClientError(description=described(refused.reason), status_code=401) from refused
        named = request.form.get("client_id")
        if named and named != authenticated.client.client_id:  # RFC 7521 §4.2: optional, but never another client
            raise InvalidClientError(description="'client_id' is not the client the assertion names", status_code=401)
        return _AuthlibClient(authenticated.client)

    def _generate(self, *, client: _AuthlibClient, scope: str, **_: Any) -> dict[str, Any]:
        return self.endpoint.access_token(client.client, scopes.split(scope))

    def save_token(self, token: dict[str, Any], request: _FormRequest) -> None:
        client: Client = request.client.client
        actor = Actor(org_ods=client.org_ods, client_id=client.client_id, address=request.address)
        self.endpoint.audit_issued(actor, scopes.split(token["scope"]))

    def create_oauth2_request(self, request: _FormRequest) -> _FormRequest:
        return request

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def handle_error_response(self, request: _FormRequest, error: OAuth2Error) -> TokenResponse:
        if isinstance(error, InvalidClientError):
            error.status_code = 401
        refused = request.claimed
        client = request.client.client if request.client is not None else None
        assertion = request.form.get("client_assertion")
        actor = Actor(
            org_ods=client.org_ods if client else refused.org_ods if refused else None,
            client_id=client.client_id if client else refused.client_id if refused else None,
            address=request.address,
        )
        if actor.client_id is None and assertion:
            actor = Actor(client_id=unverified_issuer(assertion), address=request.address)
        refusal = self.endpoint.audit_refused(actor, f"{error.error}: {error.description or error.error}")
        if refusal.throttled:
            return throttled(refusal)
        response: TokenResponse = super().handle_error_response(request, error)
        return response

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> TokenResponse:
        # authlib's "Basic" challenge would mislead: this endpoint takes no client secret.
        kept = {k: v for k, v in headers if k.lower() != "www-authenticate"}
        return TokenResponse(status, dict(body), kept)


def described(text: str) -> str:
    """``text`` within the characters RFC 6749 §5.2 allows an error_description (printable ASCII but '"' and '\\'):
    a reason may quote what the client sent, and authlib raises on any other character."""
    return "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "?" for ch in text)


def throttled(refusal: Refusal) -> TokenResponse:
    """RFC 6749 §5.2 JSON with 429 and Retry-After, for a refusal past the per-address limit."""
    body = {"error": "invalid_request", "error_description": "Too many refused requests from this address"}
    headers = {"Retry-After": str(refusal.retry_after), "Cache-Control": "no-store", "Pragma": "no-cache"}
    return TokenResponse(429, body, headers)


class TokenEndpoint:
    def __init__(
        self,
        verifier: AssertionVerifier,
        keyring: NodeKeyRing,
        clock: Clock,
        audit: AuditSink,
        node: Node,
        *,
        issuer: str,
        audience: str,
        lifetime: int = LIFETIME,
        refusals: RefusalThrottle | None = None,
    ) -> None:
        self.refusals = refusals
        self.verifier = verifier
        self.keyring = keyring
        self.clock = clock
        self.audit = audit
        self.node = node
        self.issuer = issuer
        self.audience = audience
        self.lifetime = min(lifetime, LIFETIME)
        self._server = _Server(self)
        parts = urlsplit(verifier.token_url)
        # TLS ends at the proxy in front of the node (deploy/); authlib checks the scheme, not the hop.
        self._uri = urlunsplit(("https", parts.netloc, parts.path, "", ""))

    def handle(self, media_type: str, body: bytes, address: str | None = None) -> TokenResponse:
        """Answer one POST to the token endpoint."""
        if media_type.split(";", 1)[0].strip().lower() != FORM:
            return self._refuse({}, address, f"Send the parameters as {FORM}")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return self._refuse({}, address, "The body is not a form")
        form = dict(pairs)
        counts = Counter(k for k, _ in pairs)
        repeated = sorted(k for k in PARAMETERS if counts[k] > 1)
        if repeated:
            return self._refuse(form, address, f"Repeated '{repeated[0]}'")
        if not form.get("grant_type"):
            return self._refuse(form, address, "Missing 'grant_type'")
        response: TokenResponse = self._server.create_token_response(_FormRequest(self._uri, form, address))
        return response

    def _refuse(self, form: dict[str, str], address: str | None, description: str) -> TokenResponse:
        request = _FormRequest(self._uri, form, address)
        return self._server.handle_error_response(request, InvalidRequestError(described(description)))

    def access_token(self, client: Client, granted: tuple[str, ...]) -> dict[str, Any]:
        """A bearer JWT naming the organisation and the client, signed by the node's active key."""
        now = int(self.clock.now().timestamp())
        kid, key = self.keyring.signing_key()
        claims = {
            "iss": self.issuer,
            "sub": client.client_id,
            "aud": self.audience,
            "client_id": client.client_id,
            "org": client.org_ods,
            "scope": " ".join(granted),
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": ALGORITHM, "kid": kid, "typ": "at+jwt"}, claims, key, algorithms=[ALGORITHM])
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.lifetime,
            "scope": claims["scope"],
        }

    def audit_issued(self, actor: Actor, granted: tuple[str, ...]) -> None:
        self.audit.append(balp.token_issued(self.node, self.clock.now(), actor, scopes=granted))

    def audit_refused(self, actor: Actor, reason: str) -> Refusal:
        """Record a refused request, unless its address is past the refusal limit; how to answer it."""
        refusal = self.refusals.refused(actor.address) if self.refusals else UNCOUNTED
        if refusal.recorded:
            self.audit.append(balp.token_refused(self.node, self.clock.now(), actor, reason=refusal.note(reason)))
        return refusal

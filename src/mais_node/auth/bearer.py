"""The bearer check on every protected request (RFC 6750; SMART Backend Services access tokens).

A token is accepted when the node's key ring verifies its ES384 signature, it has not expired, its audience is this
node's FHIR base, and its organisation and client are still allowed in: the register is re-read at most every
``status_ttl`` seconds per client, so a suspension or revocation takes effect within seconds, not at expiry.
A verified token is remembered until it expires, so the signature is checked once per token, not per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from joserfc import jws, jwt
from joserfc.errors import JoseError

from mais_node.auth import scopes
from mais_node.auth.keyring import ALGORITHM, NodeKeyRing
from mais_node.clock import Clock
from mais_node.errors import Forbidden, NotAuthenticated
from mais_node.register.clients import Clients
from mais_node.register.organisations import Organisations


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, as the access token names them."""

    client_id: str
    org_ods: str
    scopes: tuple[str, ...]
    token_id: str
    expires_at: int

    def has(self, scope: str) -> bool:
        """Whether the token's scopes together cover ``scope`` (a role scope, or a system scope's interactions)."""
        return scopes.covers(self.scopes, scope)

    def require(self, *any_of: str) -> None:
        """Forbidden unless the token's scopes cover one of ``any_of``."""
        if not any(scopes.covers(self.scopes, scope) for scope in any_of):
            raise Forbidden(f"This needs the scope {' or '.join(any_of)} (or a wider one)")

    def require_interaction(self, resource_type: str, interaction: str) -> None:
        """Forbidden unless a SMART v2 scope allows ``interaction`` (c r u d s) on ``resource_type``."""
        if not scopes.permits(self.scopes, resource_type, interaction):
            raise Forbidden(f"This needs the scope system/{resource_type}.{interaction} (or a wider one)")


class BearerValidator:
    def __init__(
        self,
        keyring: NodeKeyRing,
        clients: Clients,
        organisations: Organisations,
        clock: Clock,
        *,
        issuer: str,
        audience: str,
        status_ttl: float = 2.0,
        cache_size: int = 10_000,
    ) -> None:
        self.keyring = keyring
        self.clients = clients
        self.organisations = organisations
        self.clock = clock
        self.issuer = issuer
        self.audience = audience
        self.status_ttl = status_ttl
        self.cache_size = cache_size
        self._verified: OrderedDict[str, Caller] = OrderedDict()
        self._status: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller of an ``Authorization: Bearer`` header; NotAuthenticated (401) otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("This needs an access token: Authorization: Bearer <token>")
        token = token.strip()
        now = self.clock.now().timestamp()
        with self._lock:
            caller = self._verified.get(token)
        if caller is None:
            caller = self._verify(token, now)
            with self._lock:
                self._verified[token] = caller
                while len(self._verified) > self.cache_size:
                    self._verified.popitem(last=False)
        if caller.expires_at <= now:
            raise NotAuthenticated("The access token has expired")
        refusal = self._refusal(caller, now)
        if refusal is not None:
            raise NotAuthenticated(refusal)
        return caller

    def _verify(self, token: str, now: float) -> Caller:
        try:
            header = jws.extract_compact(token.encode()).headers()
            key = self.keyring.verification_key(str(header.get("kid", "")))
            if key is None or header.get("alg") != ALGORITHM:
                raise NotAuthenticated("The access token was not issued by this node")
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise NotAuthenticated("The access token is not valid") from exc
        if claims.get("iss") != self.issuer or claims.get("aud") != self.audience:
            raise NotAuthenticated("The access token is not for this node")
        exp, client_id, org = claims.get("exp"), claims.get("client_id"), claims.get("org")
        if not isinstance(exp, int) or not isinstance(client_id, str) or not isinstance(org, str):
            raise NotAuthenticated("The access token is not valid")
        return Caller(client_id, org, scopes.split(claims.get("scope")), str(claims.get("jti", "")), exp)

    def _refusal(self, caller: Caller, now: float) -> str | None:
        """Why the caller's client or organisation may no longer connect (re-read every ``status_ttl`` s)."""
        key = f"{caller.client_id}|{caller.org_ods}"
        with self._lock:
            cached = self._status.get(key)
        if cached is not None and now - cached[0] < self.status_ttl:
            return cached[1]
        client = self.clients.get(caller.client_id)
        refusal: str | None
        if client is None or not client.active or client.org_ods != caller.org_ods:
            refusal = "The client of this access token is revoked"
        else:
            org = self.organisations.get(caller.org_ods)
            refusal = "The organisation of this access token is not in the register" if org is None else None
            if org is not None and (why := org.why_not()) is not None:
                refusal = f"The access token is no longer valid: {why}"
        with self._lock:
            self._status[key] = (now, refusal)
        return refusal

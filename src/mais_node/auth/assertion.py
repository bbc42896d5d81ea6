"""The client assertion of SMART Backend Services (RFC 7523 §3 as profiled by SMART App Launch v2 §6.1.3).

Accepted only when ``alg`` is RS384 or ES384; the header asks for nothing the node does not understand and points at
no key but the client's registered ones (``assertion_header``); ``iss`` = ``sub`` = a registered, active client id;
``kid`` selects exactly one key of the client and that key verifies the signature; ``aud`` is exactly the token
endpoint URL; ``exp`` is in the future and at most five minutes ahead (60 s clock skew); ``jti`` was not used
before by that issuer within its lifetime; and the client's organisation may connect (DESIGN §3). The checks are
done here with joserfc rather than by authlib's ``JWTBearerClientAssertion`` so that each refusal carries its own
reason.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from mais_node.auth.assertion_header import HeaderRefused, check_embedded_key, check_key_source, check_understood
from mais_node.auth.client_keys import ClientKeys, KeyNotUsable
from mais_node.auth.ports import ReplayCache
from mais_node.clock import Clock
from mais_node.register.clients import Clients
from mais_node.register.model import Client
from mais_node.register.organisations import Organisations

ALGORITHMS = ("RS384", "ES384")
SKEW = 60
MAX_LIFETIME = 300
MAX_JTI = 256
MAX_ASSERTION = 16_384


def _registry() -> jws.JWSRegistry:
    """joserfc's checks of the registered header parameters' values, without its refusal of every other name."""
    registry = jws.JWSRegistry(algorithms=ALGORITHMS, strict_check_header=False)
    registry.max_header_length = 4096  # room for a registered RSA 'jwk' in the header
    return registry


_REGISTRY = _registry()


class AssertionRefused(Exception):
    """The assertion is not accepted: ``reason`` goes to the audit trail and the error description."""

    def __init__(self, reason: str, *, client_id: str | None = None, org_ods: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id
        self.org_ods = org_ods


@dataclass(frozen=True, slots=True)
class Authenticated:
    client: Client
    claims: dict[str, Any]


def unverified_issuer(assertion: str) -> str | None:
    """The ``iss`` an assertion claims, before any check (only to name the claimed client in audit records)."""
    segments = assertion.split(".")
    try:
        claims = _json_segment(segments[1]) if len(assertion) <= MAX_ASSERTION and len(segments) == 3 else None
    except AssertionRefused:
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer[:128] if isinstance(issuer, str) else None


class AssertionVerifier:
    def __init__(
        self,
        clients: Clients,
        organisations: Organisations,
        keys: ClientKeys,
        replay: ReplayCache,
        clock: Clock,
        *,
        token_url: str,
    ) -> None:
        self.clients = clients
        self.organisations = organisations
        self.keys = keys
        self.replay = replay
        self.clock = clock
        self.token_url = token_url

    def verify(self, assertion: str) -> Authenticated:
        header, claims = _parts(assertion)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AssertionRefused(f"alg '{str(alg)[:16]}' is not accepted (RS384 or ES384 only)")
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not isinstance(issuer, str) or not issuer:
            raise AssertionRefused("the assertion has no 'iss'")
        if subject != issuer:
            raise AssertionRefused("'iss' and 'sub' differ", client_id=issuer[:128])
        client = self.clients.get(issuer)
        if client is None:
            raise AssertionRefused("unknown client", client_id=issuer[:128])
        who = {"client_id": client.client_id, "org_ods": client.org_ods}
        if not client.active:
            raise AssertionRefused(
                f"the client is {'suspended at this node' if client.suspended_here else client.status}", **who
            )
        try:
            check_key_source(header, client)  # before any fetch: a 'jku' is never fetched for being in a header
            key = self.keys.select(client, header.get("kid"), str(alg))
            check_embedded_key(header, key)
        except (KeyNotUsable, HeaderRefused) as exc:
            raise AssertionRefused(str(exc), **who) from exc
        try:
            jws.deserialize_compact(assertion, key, registry=_REGISTRY)
        except BadSignatureError as exc:
            raise AssertionRefused("the signature does not verify with the client's key", **who) from exc
        except (JoseError, ValueError) as exc:
            raise AssertionRefused(f"the assertion header is not valid: {_description(exc)}", **who) from exc
        self._check_claims(claims, who)
        org = self.organisations.get(client.org_ods)
        if org is None:
            raise AssertionRefused(f"organisation {client.org_ods} is not in the register", **who)
        if (why := org.why_not()) is not None:
            raise AssertionRefused(why, **who)
        now = self.clock.now().timestamp()
        if not self.replay.first_use(issuer, claims["jti"], float(claims["exp"]) + SKEW, now):
            raise AssertionRefused("the 'jti' was used before (replay)", **who)
        return Authenticated(client, claims)

    def _check_claims(self, claims: dict[str, Any], who: dict[str, str]) -> None:
        aud = claims.get("aud")
        if aud != self.token_url and aud != [self.token_url]:
            raise AssertionRefused("'aud' is not this token endpoint's URL", **who)
        now = self.clock.now().timestamp()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise AssertionRefused("the assertion has no numeric 'exp'", **who)
        if exp <= now - SKEW:
            raise AssertionRefused("the assertion has expired", **who)
        if exp > now + MAX_LIFETIME + SKEW:
            raise AssertionRefused("'exp' is more than five minutes ahead", **who)
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is not None and (not isinstance(value, int | float) or value > now + SKEW):
                raise AssertionRefused(f"'{name}' is in the future", **who)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
            raise AssertionRefused("the assertion has no usable 'jti'", **who)


def _parts(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header, checked for what it asks the node to understand before anything else is read, and the claims."""
    segments = assertion.split(".")
    if len(assertion) > MAX_ASSERTION or len(segments) != 3:
        raise AssertionRefused("the client assertion is not a compact JWS")
    header = _json_segment(segments[0])
    if not isinstance(header, dict):
        raise AssertionRefused("the client assertion is not a compact JWS")
    try:
        check_understood(header)
    except HeaderRefused as exc:
        raise AssertionRefused(exc.reason) from exc
    claims = _json_segment(segments[1])
    if not isinstance(claims, dict):
        raise AssertionRefused("the client assertion's payload is not a JSON object")
    return header, claims


def _json_segment(segment: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise AssertionRefused("the client assertion is not a compact JWS") from exc


def _description(error: Exception) -> str:
    """joserfc's description of a header value it refuses (it names the parameter), cut short for the audit record."""
    description = getattr(error, "description", None) or type(error).__name__
    return str(description)[:120]

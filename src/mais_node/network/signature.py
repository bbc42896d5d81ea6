"""The authority's signature of the register: ``Bundle.signature`` (sigFormat ``application/jose``) holding a JWS
with a detached payload (RFC 7515 Appendix F), ES384 with ``kid``, over the RFC 8785 canonical JSON of the Bundle
without its ``signature`` element.

A node accepts only ES384 (``none`` and HMAC are refused before any key is chosen), only a ``kid`` its trust JWKS
holds (several keys: the authority rotates with overlap), and only a signature that verifies over the document as
parsed, so what is verified is exactly what is applied.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from mais_node.errors import InvalidRequest
from mais_node.network.canonical import bundle_canonical, canonical
from mais_node.network.entries import Reading

ALGORITHM = "ES384"
SIG_FORMAT = "application/jose"
# ASTM E1762-95 signature types (FHIR R4 signature-type value set): the author's signature.
SIGNATURE_TYPE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k")


class SignatureRefused(InvalidRequest):
    """The register's signature is not accepted: why, for the audit record."""


@dataclass(frozen=True, slots=True)
class TrustedKeys:
    """The authority's public keys a node trusts, by ``kid``."""

    keys: dict[str, ECKey]

    @classmethod
    def from_jwks(cls, jwks: Any) -> TrustedKeys:
        """From a JWK Set of public P-384 keys, each with its own ``kid``; InvalidRequest otherwise."""
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
            raise InvalidRequest("the register trust is not a JWKS with keys", expression=("register_trust",))
        keys: dict[str, ECKey] = {}
        for jwk in jwks["keys"]:
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            if not isinstance(jwk, dict) or not isinstance(kid, str) or not kid or kid in keys:
                raise InvalidRequest("each trusted key needs its own 'kid'", expression=("register_trust",))
            if any(name in jwk for name in _PRIVATE):
                raise InvalidRequest("the register trust holds private key material", expression=("register_trust",))
            try:
                key = ECKey.import_key(jwk)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise InvalidRequest(
                    f"trusted key {kid[:40]} is not an EC key", expression=("register_trust",)
                ) from exc
            if key.curve_name != "P-384":
                raise InvalidRequest(f"trusted key {kid[:40]} is not P-384 (ES384)", expression=("register_trust",))
            keys[kid] = key
        return cls(keys)


def signing_input(bundle: dict[str, Any], reading: Reading | None = None) -> bytes:
    """The canonical JSON of ``bundle`` without its signature; with ``reading``, written entry by entry from its
    pieces (and ``reading.plain`` says whether they are canonical, so the import may remember them)."""
    rest = {k: v for k, v in bundle.items() if k != "signature"}
    if reading is None or not isinstance(rest.get("entry"), list):
        return canonical(rest)
    payload, reading.plain = bundle_canonical(rest, reading.pieces, reading.known)
    return payload


def sign(bundle: dict[str, Any], private_jwk: dict[str, Any], *, when: str, who: str) -> dict[str, Any]:
    """``bundle`` with its ``signature``: a detached ES384 JWS by the key ``private_jwk`` (its ``kid`` named)."""
    key = ECKey.import_key(private_jwk)
    kid = private_jwk.get("kid") or key.thumbprint()
    compact = jws.serialize_compact({"alg": ALGORITHM, "kid": kid}, signing_input(bundle), key, algorithms=[ALGORITHM])
    header, _, signature = compact.split(".")
    detached = f"{header}..{signature}"
    return bundle | {
        "signature": {
            "type": [SIGNATURE_TYPE],
            "when": when,
            "who": {"display": who},
            "sigFormat": SIG_FORMAT,
            "data": base64.b64encode(detached.encode()).decode(),
        }
    }


def verify(bundle: dict[str, Any], trust: TrustedKeys, reading: Reading | None = None) -> str:
    """The ``kid`` that signed ``bundle``; SignatureRefused saying why when the signature is not accepted.
    ``reading`` (the entries of ``bundle``, ``network/entries.py``) spares walking the entries known to be plain."""
    signature = bundle.get("signature")
    if not isinstance(signature, dict) or signature.get("sigFormat") != SIG_FORMAT:
        raise SignatureRefused("the register carries no application/jose signature", expression=("Bundle.signature",))
    try:
        detached = base64.b64decode(str(signature.get("data", "")), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureRefused("the signature is not base64", expression=("Bundle.signature.data",)) from exc
    parts = detached.split(".")
    if len(parts) != 3 or parts[1]:
        raise SignatureRefused("the signature is not a detached compact JWS", expression=("Bundle.signature.data",))
    header = _header(parts[0])
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise SignatureRefused(f"alg '{str(alg)[:16]}' is not accepted (ES384 only)", expression=("Bundle.signature",))
    kid = header.get("kid")
    key = trust.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise SignatureRefused(
            f"kid '{str(kid)[:64]}' is not a trusted key of the authority", expression=("Bundle.signature",)
        )
    if set(header) - {"alg", "kid", "typ"}:
        raise SignatureRefused(
            "the signature's header has parameters a node does not understand", expression=("Bundle.signature",)
        )
    try:
        jws.deserialize_compact(detached, key, algorithms=[ALGORITHM], payload=signing_input(bundle, reading))
    except (JoseError, ValueError) as exc:
        raise SignatureRefused(
            "the signature does not verify over this document", expression=("Bundle.signature",)
        ) from exc
    return kid  # type: ignore[return-value]


def _header(segment: str) -> dict[str, Any]:
    try:
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise SignatureRefused("the signature's header is not JSON", expression=("Bundle.signature",)) from exc
    if not isinstance(header, dict):
        raise SignatureRefused("the signature's header is not a JSON object", expression=("Bundle.signature",))
    return header

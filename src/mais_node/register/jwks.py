"""A client's public keys (RFC 7517 JWK Set) as SMART Backend Services asks: RS384 or ES384, each with a ``kid``."""

from __future__ import annotations

import base64
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from mais_node.errors import InvalidRequest

ALGORITHMS = ("RS384", "ES384")
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "k")
MIN_RSA_BITS = 2048


def check_public_jwks(jwks: Any) -> dict[str, Any]:
    """The JWK Set if each key is a public RSA (≥ 2048 bits) or P-384 key with its own ``kid``; else InvalidRequest."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidRequest("A JWKS is a JSON object with a non-empty 'keys' array", expression=("jwks",))
    kids: set[str] = set()
    for index, jwk in enumerate(jwks["keys"]):
        where = (f"jwks.keys[{index}]",)
        if not isinstance(jwk, dict):
            raise InvalidRequest("Each key must be a JSON object", expression=where)
        if any(name in jwk for name in _PRIVATE):
            raise InvalidRequest("The JWKS holds private key material: register public keys only", expression=where)
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or kid in kids:
            raise InvalidRequest("Each key needs its own 'kid'", expression=where)
        kids.add(kid)
        if jwk.get("kty") == "RSA" and _modulus_bits(jwk.get("n")) < MIN_RSA_BITS:
            raise InvalidRequest(f"RSA keys must have at least {MIN_RSA_BITS} bits", expression=where)
        try:
            key = KeySet.import_key_set({"keys": [jwk]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InvalidRequest("A key cannot be read as a JWK", expression=where) from exc
        if not isinstance(key, RSAKey) and not (isinstance(key, ECKey) and key.curve_name == "P-384"):
            raise InvalidRequest("Keys must be RSA (RS384) or EC P-384 (ES384)", expression=where)
    return jwks


def _modulus_bits(n: Any) -> int:
    """Bits of an RSA modulus given base64url-encoded (checked before import, which only warns on short keys)."""
    if not isinstance(n, str):
        return 0
    try:
        modulus = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)).lstrip(b"\0")
    except ValueError:
        return 0
    return int.from_bytes(modulus, "big").bit_length()

"""The node's checkpoint signer (DESIGN §7 "signed checkpoints"): compact JWS, ES384 (RFC 7515, 7518).

Implements ``mais_node.audit.checkpoint.Signer`` with joserfc; joserfc errors never leave this module.
"""

from __future__ import annotations

from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from mais_node.audit.checkpoint import InvalidSignatureError
from mais_node.auth.keyring import NodeKeyRing

ALGORITHM = "ES384"


class JoseSigner:
    """Signs with the node's private P-384 JWK; a public JWK can only verify."""

    def __init__(self, jwk: dict[str, Any]) -> None:
        self._key = ECKey.import_key(jwk)
        self._kid = jwk.get("kid") or self._key.thumbprint()

    def sign(self, payload: bytes) -> str:
        header = {"alg": ALGORITHM, "kid": self._kid}
        return jws.serialize_compact(header, payload, self._key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> bytes:
        try:
            return jws.deserialize_compact(token, self._key, algorithms=[ALGORITHM]).payload
        except (JoseError, ValueError) as exc:
            raise InvalidSignatureError(type(exc).__name__) from exc

    def public_jwk(self) -> dict[str, Any]:
        return self._key.as_dict(private=False) | {"kid": self._kid, "alg": ALGORITHM, "use": "sig"}


def generate_es384() -> dict[str, Any]:
    """A fresh private P-384 JWK (for ``mais keys generate`` and tests)."""
    key = ECKey.generate_key("P-384", private=True)
    return key.as_dict(private=True) | {"kid": key.thumbprint(), "alg": ALGORITHM}


class KeyRingSigner:
    """Checkpoints signed by the node's current key from its key ring; verified by the key their ``kid`` names."""

    def __init__(self, keyring: NodeKeyRing) -> None:
        self._keyring = keyring

    def sign(self, payload: bytes) -> str:
        kid, key = self._keyring.signing_key()
        return jws.serialize_compact({"alg": ALGORITHM, "kid": kid}, payload, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> bytes:
        try:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
            key = self._keyring.verification_key(str(kid)) if kid else None
            if key is None:
                raise InvalidSignatureError("the checkpoint names a key this node does not hold")
            return jws.deserialize_compact(token, key, algorithms=[ALGORITHM]).payload
        except (JoseError, ValueError) as exc:
            raise InvalidSignatureError(type(exc).__name__) from exc

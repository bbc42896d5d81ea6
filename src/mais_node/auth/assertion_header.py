"""The JOSE header of a client assertion (RFC 7515 §4.1, RFC 7797 §6; SMART App Launch v2 Backend Services).

RFC 7515 §4: a header parameter the node does not know is ignored unless ``crit`` names it, and the node implements
no extension, so any name in ``crit`` is refused. The verification key is always the client's registered key that
``kid`` names, never one the header offers: a ``jku`` must be the client's registered JWKS URL (SMART; it is never
fetched for being in a header), a ``jwk`` must be that registered key, and ``x5u`` and ``x5c`` are refused since no
client registers certificates. Each refusal says what is wrong with the header, never that the signature is bad.
"""

from __future__ import annotations

from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from mais_node.register.model import Client

CERTIFICATE_SOURCES = ("x5u", "x5c")


class HeaderRefused(Exception):
    """The assertion's header is not acceptable: ``reason`` goes to the audit trail and the error description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_understood(header: dict[str, Any]) -> None:
    """Refuse what RFC 7515 §4.1.11 ``crit`` (or RFC 7797 ``b64``) asks the node to understand: it implements none."""
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or not all(isinstance(name, str) for name in crit):
            raise HeaderRefused("the assertion header's 'crit' is not a non-empty list of names (RFC 7515 4.1.11)")
        raise HeaderRefused(f"the assertion header's 'crit' names '{crit[0][:40]}', which the node does not understand")
    if header.get("b64", True) is not True:
        raise HeaderRefused("the assertion header's 'b64' asks for an unencoded payload, which a JWT cannot have")


def check_key_source(header: dict[str, Any], client: Client) -> None:
    """Before any key is looked up: a header may only point at where the client's registered keys already are."""
    for name in CERTIFICATE_SOURCES:
        if name in header:
            raise HeaderRefused(
                f"the assertion header's '{name}' names a certificate, and clients here register keys, not"
                " certificates: leave it out and name the registered key by 'kid'"
            )
    if "jku" in header and header["jku"] != client.jwks_uri:
        raise HeaderRefused("the assertion header's 'jku' is not the client's registered JWKS URL")


def check_embedded_key(header: dict[str, Any], key: RSAKey | ECKey) -> None:
    """A ``jwk`` in the header is accepted only as the registered key that ``kid`` selected (RFC 7638 thumbprints)."""
    if "jwk" not in header:
        return
    embedded = header["jwk"]
    try:
        same = isinstance(embedded, dict) and type(key).import_key(embedded).thumbprint() == key.thumbprint()
    except (JoseError, ValueError, TypeError, KeyError):
        same = False
    if not same:
        raise HeaderRefused("the assertion header's 'jwk' is not the client's registered key its 'kid' names")

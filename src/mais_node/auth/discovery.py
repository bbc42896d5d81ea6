"""SMART discovery (SMART App Launch v2 §"Conformance": ``[base]/.well-known/smart-configuration``)."""

from __future__ import annotations

from typing import Any

from mais_node.auth.assertion import ALGORITHMS
from mais_node.auth.scopes import SCOPES


def smart_configuration(*, issuer: str, token_endpoint: str, jwks_uri: str) -> dict[str, Any]:
    """What a backend-services client needs to find before asking for a token."""
    return {
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": token_endpoint,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": [s.scope for s in SCOPES],
        "response_types_supported": ["token"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }

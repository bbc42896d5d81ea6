"""The canonical JSON the authority signs: RFC 8785 (JSON Canonicalization Scheme), by the ``rfc8785`` package.

JCS is an RFC with implementations in every language a partner may verify with; the register holds no floats, so
its one subtle part (ECMAScript number formatting) never arises.
"""

from __future__ import annotations

from typing import Any

import rfc8785

from mais_node.errors import InvalidRequest


def canonical(document: Any) -> bytes:
    """``document`` in RFC 8785 form; InvalidRequest when it holds something JCS cannot express."""
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidRequest("the document cannot be put in canonical JSON (RFC 8785)") from exc

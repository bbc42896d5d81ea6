"""The canonical JSON the authority signs: RFC 8785 (JSON Canonicalization Scheme).

JCS is an RFC with implementations in every language a partner may verify with. The ``rfc8785`` package is the
reference here; it is pure Python (about 270 ms for a national-sized register), so a document JCS and orjson write
alike (every key ASCII, so UTF-16 and byte order agree; no floats, whose ECMAScript formatting only JCS does; every
integer within ±2^53) is written by orjson with sorted keys, byte for byte the same
(``tests/unit/network/test_canonical.py`` checks that on generated documents). Anything else goes to ``rfc8785``.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

from mais_node.errors import InvalidRequest

_SAFE_INTEGER = 2**53 - 1


def canonical(document: Any) -> bytes:
    """``document`` in RFC 8785 form; InvalidRequest when it holds something JCS cannot express."""
    try:
        if _plain(document):
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise InvalidRequest("the document cannot be put in canonical JSON (RFC 8785)") from exc


def _plain(document: Any) -> bool:
    """True when orjson's sorted output is the JCS form: ASCII keys, no floats, integers JCS can hold."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or not key.isascii():
                    return False
                pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if abs(value) > _SAFE_INTEGER:
                return False
        else:
            return False
    return True

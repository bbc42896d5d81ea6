"""The canonical JSON the authority signs: RFC 8785 (JSON Canonicalization Scheme).

JCS is an RFC with implementations in every language a partner may verify with. The ``rfc8785`` package is the
reference here; it is pure Python (about 270 ms for a national-sized register), so a document JCS and orjson write
alike (every key ASCII, so UTF-16 and byte order agree; no floats, whose ECMAScript formatting only JCS does; every
integer within ±2^53) is written by orjson with sorted keys, byte for byte the same
(``tests/unit/network/test_canonical.py`` checks that on generated documents). Anything else goes to ``rfc8785``.

A register's Bundle is written entry by entry (``entries``, ``bundle_canonical``): each entry's sorted orjson form is
its canonical form once the entry is plain, and an entry whose bytes are among those of the last serial applied is
known to be plain without walking it again (bytes compare type and value exactly: ``true`` is not ``1``). The same
bytes key the entries an import has already read (``network/entries.py``).
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import orjson
import rfc8785

from mais_node.errors import InvalidRequest

_SAFE_INTEGER = 2**53 - 1
_SORTED = orjson.OPT_SORT_KEYS


def canonical(document: Any) -> bytes:
    """``document`` in RFC 8785 form; InvalidRequest when it holds something JCS cannot express."""
    try:
        if _plain(document):
            return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise InvalidRequest("the document cannot be put in canonical JSON (RFC 8785)") from exc


def entries(items: list[Any]) -> list[bytes]:
    """Each entry as orjson writes it with sorted keys: its canonical form when it is plain."""
    try:
        return [orjson.dumps(item, option=_SORTED) for item in items]
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        raise InvalidRequest("the document cannot be put in canonical JSON (RFC 8785)") from exc


def bundle_canonical(document: dict[str, Any], pieces: list[bytes], known: Container[bytes]) -> tuple[bytes, bool]:
    """``document`` (its ``entry`` written as ``pieces``) in RFC 8785 form, and whether the pieces are canonical; an
    entry among ``known`` is not walked. Only when every entry and the rest of the document are plain are the
    pieces joined; otherwise the whole document goes to ``rfc8785``, as ``canonical`` does."""
    rest = {k: v for k, v in document.items() if k != "entry"}
    items = document["entry"]
    if not _plain(rest) or not all(p in known or _plain(e) for p, e in zip(pieces, items, strict=True)):
        return canonical(document), False
    parts = []
    for key in sorted(document):  # every key is ASCII (plain), where code points and UTF-16 order agree
        value = b"[" + b",".join(pieces) + b"]" if key == "entry" else canonical(rest[key])
        parts.append(orjson.dumps(key) + b":" + value)
    return b"{" + b",".join(parts) + b"}", True


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

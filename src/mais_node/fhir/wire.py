"""Reading FHIR JSON off the wire (R4 §2.6.2, on RFC 8259): one JSON object, each property once, no control characters.

orjson parses (and refuses bad UTF-8, lone surrogates, NaN and nesting past 1024 levels); it keeps the last of two
equal keys without a word, so a second pass through the standard library's C scanner refuses a repeated property
by name. FHIR strings SHALL NOT hold characters below U+0020 other than tab, CR and LF (R4 §2.24.0.1 string):
in valid JSON those can only be escapes, so a byte search finds the rare body that needs the walk naming the element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

from mais_node.errors import InvalidRequest, Issue

# An escape that may decode to a control character: \u0000-\u001f, \b or \f (false hits are settled by the walk).
_MAYBE_CONTROL = re.compile(rb"\\u00[01][0-9a-fA-F]|\\[bf]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_unique)


def loads(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or ``InvalidRequest`` (400) saying what is wrong and where."""
    document = _parse(body)
    if not isinstance(document, dict):
        raise InvalidRequest("The body must be a JSON object (a FHIR resource)")
    _checked(body, document)
    return document


def loads_value(body: bytes) -> Any:
    """Any JSON value of a request body (a JSON Patch is an array), with the same checks as ``loads``."""
    return _checked(body, _parse(body))


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The body is not valid JSON (at character {exc.pos})") from exc


def _checked(body: bytes, document: Any) -> Any:
    _check_unique_keys(body)
    if _MAYBE_CONTROL.search(body):
        _check_no_control_characters(document)
    return document


def _check_unique_keys(body: bytes) -> None:
    try:
        _DECODER.decode(body.decode())
    except _Repeated as repeated:
        key = repeated.key[:64]
        raise InvalidRequest(
            f"The property '{key}' appears more than once in one JSON object", expression=(key,)
        ) from None
    except (RecursionError, ValueError) as exc:
        # orjson took it, so only depth or a number too long for Python's int can stop the second pass.
        raise InvalidRequest("The body is nested too deeply or holds a number too long") from exc


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _check_no_control_characters(document: Any) -> None:
    root = str(document.get("resourceType") or "$") if isinstance(document, dict) else "$"
    bad = [path for path, text in _strings(document, root[:64]) if _CONTROL.search(text)]
    if bad:
        issues = [
            Issue("A string holds a control character (below U+0020, other than tab, CR, LF)", expression=(p[:120],))
            for p in bad[:20]
        ]
        raise InvalidRequest(issues[0].diagnostics, issues=issues)

"""Bundles (FHIR R4 §2.36 Bundle): searchset and history, with self and next links for keyset paging."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from mais_node.errors import Issue
from mais_node.fhir.outcome import operation_outcome
from mais_node.fhir.search.parse import encode_cursor
from mais_node.fhir.search.query import SearchRequest
from mais_node.fhir.shape import shape
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import Stored


def _link(base: str, path: str, pairs: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(pairs))
    return f"{base}/{path}" + (f"?{query}" if query else "")


def searchset(
    base: str,
    path: str,
    request: SearchRequest,
    items: Sequence[Stored],
    included: Sequence[Stored],
    *,
    next_after: tuple[str, ...] | None,
    total: int | None,
) -> dict[str, Any]:
    """The self link holds the parameters as the search used them: an ignored one is absent, a page size held
    down shows the size served (R4 §3.1.1.5.2), and the outcome entry says why."""
    used = request.used
    own = [(k, v) for k, v in used if k != "_cursor"]
    links = [{"relation": "self", "url": _link(base, path, used)}]
    if next_after is not None:
        links.append({"relation": "next", "url": _link(base, path, [*own, ("_cursor", encode_cursor(next_after))])})
    entries: list[dict[str, Any]] = []
    for stored in items:
        entries.append(_entry(base, stored, shape(stored.body, request.summary, request.elements), "match"))
    entries.extend(_entry(base, s, shape(s.body, request.summary, ()), "include") for s in included)
    issues = [
        *(
            Issue(f"Search parameter '{name}' is not supported and was ignored", "not-supported", "warning")
            for name in request.ignored
        ),
        *(Issue(text, "too-costly", "warning") for text in request.warnings),
    ]
    if issues:
        entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = entries
    return bundle


def _entry(base: str, stored: Stored, body: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{stored.resource_type}/{stored.id}",
        "resource": body,
        "search": {"mode": mode},
    }


def history(
    base: str,
    path: str,
    pairs: Sequence[tuple[str, str]],
    items: Sequence[Stored],
    next_after: tuple[str, ...] | None,
) -> dict[str, Any]:
    own = [(k, v) for k, v in pairs if k != "_cursor"]
    links = [{"relation": "self", "url": _link(base, path, pairs)}]
    if next_after is not None:
        links.append({"relation": "next", "url": _link(base, path, [*own, ("_cursor", encode_cursor(next_after))])})
    entries = []
    for stored in items:
        url = f"{stored.resource_type}/{stored.id}"
        entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
        if stored.deleted:
            entry["request"] = {"method": "DELETE", "url": url}
        else:
            entry["resource"] = stored.body
            entry["request"] = {"method": "POST" if stored.version == 1 else "PUT", "url": url}
        entry["response"] = {
            "status": "204" if stored.deleted else ("201" if stored.version == 1 else "200"),
            "etag": f'W/"{stored.version}"',
            "lastModified": fhir_instant(stored.last_updated),
        }
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "history", "link": links, "entry": entries}


def dumps(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)

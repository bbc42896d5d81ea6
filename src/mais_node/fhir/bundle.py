"""Bundles (FHIR R4 §2.36 Bundle): searchset and history, with self and next links for keyset paging."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from mais_node.errors import Issue
from mais_node.fhir.outcome import operation_outcome
from mais_node.fhir.search.parse import encode_cursor
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import Stored

_SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _link(base: str, path: str, pairs: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(pairs))
    return f"{base}/{path}" + (f"?{query}" if query else "")


def subset(body: dict[str, Any], elements: Sequence[str]) -> dict[str, Any]:
    """``_elements``: keep the mandatory elements and the ones asked for, tagged SUBSETTED."""
    keep = {"resourceType", "id", "meta", *elements}
    out = {k: v for k, v in body.items() if k in keep}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), _SUBSETTED]
    out["meta"] = meta
    return out


def searchset(
    base: str,
    path: str,
    pairs: Sequence[tuple[str, str]],
    items: Sequence[Stored],
    included: Sequence[Stored],
    *,
    next_after: tuple[str, ...] | None,
    total: int | None,
    elements: Sequence[str] = (),
    ignored: Sequence[str] = (),
) -> dict[str, Any]:
    own = [(k, v) for k, v in pairs if k != "_cursor"]
    links = [{"relation": "self", "url": _link(base, path, pairs)}]
    if next_after is not None:
        links.append({"relation": "next", "url": _link(base, path, [*own, ("_cursor", encode_cursor(next_after))])})
    entries: list[dict[str, Any]] = []
    for stored in items:
        body = subset(stored.body, elements) if elements else stored.body
        entries.append(_entry(base, stored, body, "match"))
    entries.extend(_entry(base, s, s.body, "include") for s in included)
    if ignored:
        outcome = operation_outcome(
            Issue(f"Search parameter '{name}' is not supported and was ignored", "not-supported", "warning")
            for name in ignored
        )
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
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

"""Building ValueSet.expansion (FHIR R4 §ValueSet $expand with filter, count and offset)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mais_node.terminology.model import RETIRED, Concept, JsonDict


def expansion(
    resource: Mapping[str, Any],
    members: Sequence[Concept],
    now: datetime,
    text: str | None,
    count: int | None,
    offset: int | None,
) -> JsonDict:
    """A copy of the ValueSet (without compose) carrying the requested page of its expansion."""
    needle = text.casefold() if text else None
    matched = [c for c in members if needle is None or needle in f"{c.code} {c.display or ''}".casefold()]
    start = offset or 0
    page = matched[start : start + count if count is not None else None]
    parameters: list[JsonDict] = []
    if text is not None:
        parameters.append({"name": "filter", "valueString": text})
    if count is not None:
        parameters.append({"name": "count", "valueInteger": count})
    if offset is not None:
        parameters.append({"name": "offset", "valueInteger": offset})
    identity = f"{resource.get('url')}|{resource.get('version')}|{text}|{count}|{offset}"
    body: JsonDict = {
        "identifier": "urn:uuid:" + _uuid(identity),
        "timestamp": now.isoformat(),
        "total": len(matched),
        "offset": start,
    }
    if parameters:
        body["parameter"] = parameters
    body["contains"] = [_contains(c) for c in page]
    result = {key: value for key, value in resource.items() if key != "compose"}
    result["expansion"] = body
    return result


def _contains(concept: Concept) -> JsonDict:
    entry: JsonDict = {"system": concept.system, "version": concept.version, "code": concept.code}
    if concept.display:
        entry["display"] = concept.display
    if concept.abstract:
        entry["abstract"] = True
    if concept.status == RETIRED:
        entry["inactive"] = True
    return entry


def _uuid(text: str) -> str:
    """A stable id for the same expansion request (the expansion of a fixed service never changes)."""
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

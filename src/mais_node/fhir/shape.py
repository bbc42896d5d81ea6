"""Result shaping of a read or search: ``_summary`` and ``_elements`` (FHIR R4 §3.1.1.5.8 and §3.1.1.5.9).

A shaped resource is tagged SUBSETTED, so that no client mistakes it for the whole record and writes it back.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from mais_node.fhir.models import mandatory_elements, summary_elements

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


def _keep(body: dict[str, Any], names: Collection[str]) -> dict[str, Any]:
    # A primitive's extensions travel in "_name" beside it; they go where it goes.
    out = {k: v for k, v in body.items() if k in names or (k.startswith("_") and k[1:] in names)}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


def subset(body: dict[str, Any], elements: Sequence[str]) -> dict[str, Any]:
    """``_elements``: the mandatory elements and the ones asked for."""
    rtype = str(body.get("resourceType"))
    return _keep(body, {*_ALWAYS, *mandatory_elements(rtype), *elements})


def summarise(body: dict[str, Any], summary: str) -> dict[str, Any]:
    """``_summary`` true (the summary elements), text (text and the mandatory elements), data (all but text)."""
    rtype = str(body.get("resourceType"))
    if summary == "true":
        return _keep(body, {*_ALWAYS, *summary_elements(rtype), *mandatory_elements(rtype)})
    if summary == "text":
        return _keep(body, {*_ALWAYS, "text", *mandatory_elements(rtype)})
    if summary == "data":
        return _keep(body, set(body) - {"text"})
    return body


def shape(body: dict[str, Any], summary: str | None, elements: Sequence[str]) -> dict[str, Any]:
    """The body as the request asked for it; ``_elements`` wins over ``_summary`` when both are given."""
    if elements:
        return subset(body, elements)
    if summary in ("true", "text", "data"):
        return summarise(body, summary)
    return body

"""Helpers shared by both adapters: meta stamping and keyset paging (no offset scans)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from mais_node.fhir.search.query import SortKey

T = TypeVar("T")


def stamp(body: dict[str, Any], version: int, last_updated: str) -> bytes:
    """Set ``meta.versionId`` and ``meta.lastUpdated`` (FHIR wire format) and serialise."""
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = fhir_instant(last_updated)
    body["meta"] = meta
    return orjson.dumps(body)


def fhir_instant(stored: str) -> str:
    """Stored instants are normalised text without offset; on the wire they carry Z, milliseconds only."""
    return stored[:23] + "Z"


def keyset(
    sort: Sequence[SortKey],
    after: Sequence[str],
    compare: Callable[[int, bool], T],
    equal: Callable[[int], T],
    all_of: Callable[[list[T]], T],
    any_of: Callable[[list[T]], T],
) -> T:
    """(k1 > v1) OR (k1 = v1 AND k2 > v2) OR …, each key in its own direction."""
    branches = []
    for i, key in enumerate(sort):
        branches.append(all_of([*(equal(j) for j in range(i)), compare(i, key.descending)]))
    return any_of(branches)

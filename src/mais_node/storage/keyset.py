"""Helpers shared by both adapters: version checks, meta stamping and keyset paging (no offset scans)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from mais_node.errors import NotFound, PreconditionFailed, VersionConflict
from mais_node.fhir.search.query import SortKey
from mais_node.storage.port import Change

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


def check_version(change: Change, current: tuple[int, bool] | None) -> None:
    """The write's expected version against the current one (version, deleted); the same rules on every store."""
    expected = change.expected_version
    if change.operation == "delete" and (current is None or current[1]):
        raise NotFound(f"{change.resource_type}/{change.id} is not known")
    if expected is None:
        return
    if expected == 0 and current is not None and not current[1]:
        raise VersionConflict(f"{change.resource_type}/{change.id} already exists")
    if expected > 0 and (current is None or current[0] != expected):
        raise PreconditionFailed(
            f"{change.resource_type}/{change.id} is not at version {expected}", expression=("If-Match",)
        )

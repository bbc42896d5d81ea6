"""Which resource a row without an id is, so that importing it again never makes a second one: a row with an
identifier is matched, by one search per batch, to the resource of the node that carries it (a Patient by its NHS
number first); a row nothing matches takes an id derived from that identifier, the same on every run. A row without
id or identifier takes a fresh id: only the checkpoint keeps it from being written twice."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from mais_node.fhir.search.query import Criterion, Query, TokenValue
from mais_node.matching.nhs_number import NHS_NUMBER_SYSTEM
from mais_node.storage.port import ResourceStore

# The namespace of the ids an import derives from an identifier (uuid5 of "Type|system|value").
NAMESPACE = uuid.UUID("5f0c7a2e-3d1b-4e8a-9c61-7b2d4f9e1a03")
Key = tuple[str, str]


def identifier_key(resource: Mapping[str, Any]) -> Key | None:
    """The identifier a row is known by: a Patient's NHS number if it has one, else its first full identifier."""
    found: list[Key] = []
    for identifier in resource.get("identifier") or []:
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if isinstance(system, str) and isinstance(value, str) and system and value and "|" not in system + value:
            found.append((system, value))
    if resource.get("resourceType") == "Patient":
        found.sort(key=lambda key: key[0] != NHS_NUMBER_SYSTEM)
    return found[0] if found else None


def assign_ids(store: ResourceStore, resources: Sequence[dict[str, Any]]) -> list[str]:
    """An id for each resource of a batch without one, or a problem (prefixed ``!``) when its identifier names
    more than one resource of the node."""
    keys = [(str(r["resourceType"]), identifier_key(r)) for r in resources]
    held: dict[tuple[str, Key], set[str]] = {}
    for kind in {kind for kind, key in keys if key is not None}:
        wanted = sorted({key for k, key in keys if k == kind and key is not None})
        held.update(_held(store, kind, wanted))
    ids = []
    for kind, key in keys:
        if key is None:
            ids.append(uuid.uuid4().hex)
            continue
        found = held.get((kind, key), set())
        if len(found) > 1:
            ids.append(f"!identifier {key[0]}|{key[1]} names {len(found)} of the node's {kind} resources")
        elif found:
            ids.append(next(iter(found)))
        else:
            ids.append(uuid.uuid5(NAMESPACE, f"{kind}|{key[0]}|{key[1]}").hex)
    return ids


def _held(store: ResourceStore, kind: str, keys: Sequence[Key]) -> dict[tuple[str, Key], set[str]]:
    criterion = Criterion("identifier", tuple(TokenValue(system, value) for system, value in keys))
    page = store.search(Query(kind, (criterion,), count=4 * len(keys) + 8, selective=0))
    wanted = set(keys)
    held: dict[tuple[str, Key], set[str]] = {}
    for stored in page.items:
        for identifier in stored.body.get("identifier") or []:
            key = (identifier.get("system"), identifier.get("value"))
            if key in wanted:
                held.setdefault((kind, key), set()).add(stored.id)
    return held

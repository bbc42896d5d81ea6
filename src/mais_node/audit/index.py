"""The searchable values of an AuditEvent, after the R4 AuditEvent search parameters (FHIR R4
§auditevent-search).

``search_values`` gives, per parameter, every string a query value may equal to match (``code``,
``system|code``, ``system|``, ``|code`` for tokens; the reference, ``value`` and ``system|value`` for
who/what). ``index_keys`` is the much smaller set the adapters store for the few selective parameters
(patient, entity, agent, policy): one bare key per element, used to find candidates that
``AuditQuery.matches`` then confirms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from mais_node.audit.port import Event

INDEXED = ("patient", "entity", "agent", "policy")
# A stored key is at most this many characters: a longer value is stored as its digest, so that no value a caller
# sends is copied whole into the index (issue 13 §5); ``AuditQuery.matches`` still confirms every candidate.
MAX_INDEX_KEY = 128
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"


def _token(values: set[str], coding: Any) -> None:
    if not isinstance(coding, dict) or "code" not in coding:
        return
    code, system = str(coding["code"]), coding.get("system")
    values.add(code)
    values.update((f"{system}|{code}", f"{system}|") if system else (f"|{code}",))


def _concepts(values: set[str], concepts: Iterable[Any]) -> None:
    for concept in concepts:
        for coding in concept.get("coding", ()) if isinstance(concept, dict) else ():
            _token(values, coding)


def _reference(values: set[str], ref: Any) -> None:
    if not isinstance(ref, dict):
        return
    if "reference" in ref:
        values.add(str(ref["reference"]))
    identifier = ref.get("identifier")
    if isinstance(identifier, dict) and "value" in identifier:
        value, system = str(identifier["value"]), identifier.get("system")
        values.add(value)
        if system:
            values.update((f"{system}|{value}", f"{system}|"))


def _is_patient(entity: dict[str, Any]) -> bool:
    role = entity.get("role") or {}
    what = entity.get("what") or {}
    return (role.get("system") == OBJECT_ROLE and role.get("code") == "1") or "Patient/" in str(
        what.get("reference", "")
    )


def search_values(event: Event) -> dict[str, set[str]]:
    """Every value each search parameter can match in ``event`` (agent-name holds lower-cased names)."""
    out: dict[str, set[str]] = {}

    def bucket(param: str) -> set[str]:
        return out.setdefault(param, set())

    for agent in event.get("agent", ()):
        _reference(bucket("agent"), agent.get("who"))
        if "name" in agent:
            bucket("agent-name").add(str(agent["name"]).lower())
        _concepts(bucket("agent-role"), agent.get("role", ()))
        _concepts(bucket("purpose"), agent.get("purposeOfUse", ()))
        bucket("policy").update(str(p) for p in agent.get("policy", ()))
        if "address" in agent.get("network", {}):
            bucket("address").add(str(agent["network"]["address"]))
    _concepts(bucket("purpose"), event.get("purposeOfEvent", ()))
    _token(bucket("type"), event.get("type"))
    for coding in event.get("subtype", ()):
        _token(bucket("subtype"), coding)
    for param in ("action", "outcome"):
        if param in event:
            bucket(param).add(str(event[param]))
    source = event.get("source", {})
    _reference(bucket("source"), source.get("observer"))
    if "site" in source:
        bucket("site").add(str(source["site"]))
    for entity in event.get("entity", ()):
        _reference(bucket("entity"), entity.get("what"))
        _token(bucket("entity-type"), entity.get("type"))
        _token(bucket("entity-role"), entity.get("role"))
        if _is_patient(entity):
            _reference(bucket("patient"), entity.get("what"))
    return out


def bounded_key(value: str) -> str:
    """``value`` itself when short, else its SHA-256 (both sides of the index use this, so lookups still meet)."""
    if len(value) <= MAX_INDEX_KEY:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def index_key(param: str, value: str) -> str | None:
    """The stored key a query value looks up, or None when it cannot use the index (``system|``)."""
    if param == "policy" or "|" not in value:
        return bounded_key(value) if value else None
    bare = value.rpartition("|")[2]
    return bounded_key(bare) if bare else None


def _bare(keys: set[tuple[str, str]], param: str, ref: Any) -> None:
    if isinstance(ref, dict):
        identifier = ref.get("identifier")
        for value in (ref.get("reference"), identifier.get("value") if isinstance(identifier, dict) else None):
            if value and "|" not in str(value):
                keys.add((param, bounded_key(str(value))))


def index_keys(event: Event) -> set[tuple[str, str]]:
    """The (param, key) pairs an adapter stores for ``event``: bare references, identifier values and URIs."""
    keys: set[tuple[str, str]] = set()
    for agent in event.get("agent", ()):
        _bare(keys, "agent", agent.get("who"))
        keys.update(("policy", bounded_key(str(policy))) for policy in agent.get("policy", ()))
    for entity in event.get("entity", ()):
        _bare(keys, "entity", entity.get("what"))
        if _is_patient(entity):
            _bare(keys, "patient", entity.get("what"))
    return keys

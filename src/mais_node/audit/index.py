"""The searchable values of an AuditEvent, after the R4 AuditEvent search parameters (FHIR R4
§auditevent-search).

``search_values`` gives, per parameter, every string a query value may equal to match (``code``,
``system|code``, ``system|``, ``|code`` for tokens; the reference, ``value`` and ``system|value`` for
who/what, and the identifier's tokens alone for ``:identifier``; strings as recorded). ``index_keys`` is the
much smaller set the adapters store for the few selective parameters (patient, entity, agent, policy): one bare
key per element, used to find candidates that ``AuditQuery.matches`` then confirms.
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


def _identifier(values: set[str], identifier: Any) -> None:
    """The token forms of an Identifier: ``value``, ``system|value``, ``system|`` (or ``|value`` without system)."""
    if isinstance(identifier, dict) and "value" in identifier:
        value, system = str(identifier["value"]), identifier.get("system")
        values.add(value)
        values.update((f"{system}|{value}", f"{system}|") if system else (f"|{value}",))


def _reference(values: set[str], ref: Any, identifiers: set[str] | None = None) -> None:
    """A Reference's searchable forms; ``identifiers`` (the ``:identifier`` bucket) gets its identifier's tokens."""
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
        if identifiers is not None:
            _identifier(identifiers, identifier)


def _is_patient(entity: dict[str, Any]) -> bool:
    role = entity.get("role") or {}
    what = entity.get("what") or {}
    return (role.get("system") == OBJECT_ROLE and role.get("code") == "1") or "Patient/" in str(
        what.get("reference", "")
    )


_AGENT = frozenset({"agent", "agent:identifier", "agent-name", "altid", "agent-role", "purpose", "policy", "address"})
_SOURCE = frozenset({"source", "source:identifier", "site"})
_ENTITY = frozenset(
    {"entity", "entity:identifier", "entity-name", "entity-type", "entity-role", "patient", "patient:identifier"}
)


def search_values(event: Event, needed: frozenset[str] | None = None) -> dict[str, set[str]]:
    """Every value each search parameter can match in ``event`` (only the ``needed`` buckets' parts, when given: a
    search reads only what its parameters name); a ``name:identifier`` bucket holds the identifier tokens of that
    reference parameter, ``date`` the recorded instant, ``_id`` the id."""
    out: dict[str, set[str]] = {}

    def bucket(param: str) -> set[str]:
        return out.setdefault(param, set())

    def need(names: frozenset[str]) -> bool:
        return needed is None or not needed.isdisjoint(names)

    for agent in event.get("agent", ()) if need(_AGENT) else ():
        _reference(bucket("agent"), agent.get("who"), bucket("agent:identifier"))
        if "name" in agent:
            bucket("agent-name").add(str(agent["name"]))
        if "altId" in agent:
            bucket("altid").add(str(agent["altId"]))
        _concepts(bucket("agent-role"), agent.get("role", ()))
        _concepts(bucket("purpose"), agent.get("purposeOfUse", ()))
        bucket("policy").update(str(p) for p in agent.get("policy", ()))
        if "address" in agent.get("network", {}):
            bucket("address").add(str(agent["network"]["address"]))
    if need(frozenset({"purpose", "type", "subtype", "action", "outcome"})):
        _concepts(bucket("purpose"), event.get("purposeOfEvent", ()))
        _token(bucket("type"), event.get("type"))
        for coding in event.get("subtype", ()):
            _token(bucket("subtype"), coding)
        for param in ("action", "outcome"):
            if param in event:
                bucket(param).add(str(event[param]))
    if need(_SOURCE):
        source = event.get("source", {})
        _reference(bucket("source"), source.get("observer"), bucket("source:identifier"))
        if "site" in source:
            bucket("site").add(str(source["site"]))
    for entity in event.get("entity", ()) if need(_ENTITY) else ():
        _reference(bucket("entity"), entity.get("what"), bucket("entity:identifier"))
        if "name" in entity:
            bucket("entity-name").add(str(entity["name"]))
        _token(bucket("entity-type"), entity.get("type"))
        _token(bucket("entity-role"), entity.get("role"))
        if _is_patient(entity):
            _reference(bucket("patient"), entity.get("what"), bucket("patient:identifier"))
    if "recorded" in event:
        bucket("date").add(str(event["recorded"]))
    if "id" in event:
        bucket("_id").add(str(event["id"]))
    return {name: values for name, values in out.items() if values}


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


def _agent_keys(agents: Iterable[Any]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for agent in agents:
        _bare(keys, "agent", agent.get("who"))
        keys.update(("policy", bounded_key(str(policy))) for policy in agent.get("policy", ()))
    return keys


def index_keys(event: Event, agents_seen: dict[int, set[tuple[str, str]]] | None = None) -> set[tuple[str, str]]:
    """The (param, key) pairs an adapter stores for ``event``: bare references, identifier values and URIs.

    ``agents_seen``: the agents' keys by the identity of the agent list, for a batch whose events share one list
    (``balp.shared_parts``); the caller keeps the events alive while it is used, so an identity is never reused.
    """
    agents = event.get("agent", ())
    if agents_seen is None:
        keys = _agent_keys(agents)
    else:
        seen = agents_seen.get(id(agents))
        if seen is None:
            seen = agents_seen[id(agents)] = _agent_keys(agents)
        keys = set(seen)
    for entity in event.get("entity", ()):
        _bare(keys, "entity", entity.get("what"))
        if _is_patient(entity):
            _bare(keys, "patient", entity.get("what"))
    return keys

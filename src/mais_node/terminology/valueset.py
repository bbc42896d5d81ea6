"""ValueSet membership from ``compose`` (FHIR R4 §ValueSet: include/exclude by system, concept, filter)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mais_node.errors import InvalidRequest
from mais_node.terminology.codesystem import CodeSystemVersion
from mais_node.terminology.model import Concept

CodeSystemResolver = Callable[[str, str | None], CodeSystemVersion | None]
ValueSetResolver = Callable[[str], tuple[Concept, ...]]


def compose_members(
    compose: Mapping[str, Any], code_systems: CodeSystemResolver, value_sets: ValueSetResolver
) -> tuple[Concept, ...]:
    """Every concept the compose selects, in CodeSystem order, without duplicates."""
    included: dict[tuple[str, str], Concept] = {}
    for rule in compose.get("include", []):
        for concept in _select(rule, code_systems, value_sets):
            included.setdefault((concept.system, concept.code), concept)
    for rule in compose.get("exclude", []):
        for concept in _select(rule, code_systems, value_sets):
            included.pop((concept.system, concept.code), None)
    return tuple(included.values())


def _select(
    rule: Mapping[str, Any], code_systems: CodeSystemResolver, value_sets: ValueSetResolver
) -> Iterable[Concept]:
    selected: list[Concept] | None = None
    if "system" in rule:
        cs = code_systems(str(rule["system"]), rule.get("version"))
        if cs is None:
            return ()
        selected = _from_system(cs, rule)
    for url in rule.get("valueSet", []):
        members = value_sets(str(url))
        if selected is None:
            selected = list(members)
        else:
            keep = {(c.system, c.code) for c in members}
            selected = [c for c in selected if (c.system, c.code) in keep]
    return selected or ()


def _from_system(cs: CodeSystemVersion, rule: Mapping[str, Any]) -> list[Concept]:
    codes = [str(item["code"]) for item in rule["concept"]] if "concept" in rule else list(cs.concepts)
    for flt in rule.get("filter", []):
        allowed = _filter(cs, flt)
        codes = [code for code in codes if code in allowed]
    return [cs.concepts[code] for code in codes if code in cs.concepts]


def _filter(cs: CodeSystemVersion, flt: Mapping[str, Any]) -> set[str]:
    prop, op, value = str(flt["property"]), str(flt["op"]), str(flt["value"])
    if prop == "concept" and op in ("is-a", "descendent-of"):
        below = set(cs.descendants(value))
        return below | {value} if op == "is-a" else below
    if op == "=" and prop == "status":
        return {code for code, concept in cs.concepts.items() if concept.status == value}
    if op == "=":
        return {code for code, c in cs.concepts.items() if value in map(str, c.property_values(prop))}
    raise InvalidRequest(f"unsupported ValueSet filter: {prop} {op} {value}")

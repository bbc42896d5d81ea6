"""CodeSystem versions and their concept indexes (FHIR R4 §CodeSystem: concepts, properties, hierarchy)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mais_node.terminology.model import ACTIVE, Concept, PropertyValue

_STATUS = "status"
_NOT_SELECTABLE = "notSelectable"
_VALUE_KEYS = ("valueCode", "valueString", "valueBoolean", "valueInteger", "valueDecimal", "valueDateTime")


@dataclass(frozen=True, slots=True)
class CodeSystemVersion:
    """One version of one CodeSystem, indexed by code, with each code's ancestors for $subsumes."""

    url: str
    version: str
    name: str
    status: str
    concepts: Mapping[str, Concept]
    ancestors: Mapping[str, frozenset[str]]
    resource: Mapping[str, Any]

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> CodeSystemVersion:
        url = str(resource["url"])
        version = str(resource.get("version", ""))
        concepts: dict[str, Concept] = {}
        ancestors: dict[str, frozenset[str]] = {}
        for concept, parent_chain in _walk(url, version, resource.get("concept", []), ()):
            concepts[concept.code] = concept
            ancestors[concept.code] = frozenset(parent_chain)
        return cls(
            url=url,
            version=version,
            name=str(resource.get("name", resource.get("id", url))),
            status=str(resource.get("status", "unknown")),
            concepts=concepts,
            ancestors=ancestors,
            resource=resource,
        )

    def descendants(self, code: str) -> Iterator[str]:
        return (other for other, above in self.ancestors.items() if code in above)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions numerically where they are numbers ("0.10.0" after "0.9.1"), else lexically."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in version.split("."))


def current_version(versions: Iterable[CodeSystemVersion]) -> CodeSystemVersion:
    """The latest active version, or the highest version when none is active."""
    ordered = sorted(versions, key=lambda cs: version_key(cs.version))
    active = [cs for cs in ordered if cs.status == ACTIVE]
    return (active or ordered)[-1]


def _walk(
    system: str, version: str, items: Iterable[Mapping[str, Any]], chain: tuple[str, ...]
) -> Iterator[tuple[Concept, tuple[str, ...]]]:
    for item in items:
        code = str(item["code"])
        properties = tuple(_property(prop) for prop in item.get("property", []))
        values = dict(properties)
        yield (
            Concept(
                system=system,
                version=version,
                code=code,
                display=item.get("display"),
                definition=item.get("definition"),
                status=str(values.get(_STATUS, ACTIVE)),
                properties=tuple(p for p in properties if p[0] != _STATUS),
                parent=chain[-1] if chain else None,
                abstract=values.get(_NOT_SELECTABLE) is True,
            ),
            chain,
        )
        yield from _walk(system, version, item.get("concept", []), (*chain, code))


def _property(prop: Mapping[str, Any]) -> tuple[str, PropertyValue]:
    for key in _VALUE_KEYS:
        if key in prop:
            value: PropertyValue = prop[key]
            return str(prop["code"]), value
    if "valueCoding" in prop:
        return str(prop["code"]), str(prop["valueCoding"].get("code", ""))
    return str(prop["code"]), ""

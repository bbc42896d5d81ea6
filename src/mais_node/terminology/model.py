"""Value types of the terminology service (FHIR R4 §CodeSystem, §ValueSet operation outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]
PropertyValue = str | bool | int | float

ACTIVE = "active"
DRAFT = "draft"
RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept of one CodeSystem version, with its properties flattened."""

    system: str
    version: str
    code: str
    display: str | None
    definition: str | None
    status: str
    properties: tuple[tuple[str, PropertyValue], ...] = ()
    parent: str | None = None
    abstract: bool = False

    def property_values(self, name: str) -> tuple[PropertyValue, ...]:
        return tuple(value for key, value in self.properties if key == name)

    @property
    def replaced_by(self) -> str | None:
        values = self.property_values("replaced-by")
        return str(values[0]) if values else None


@dataclass(frozen=True, slots=True)
class ConceptRef:
    """A pointer to a concept: what a caller puts in a Coding."""

    system: str
    code: str
    display: str | None
    status: str

    def to_coding(self) -> JsonDict:
        coding: JsonDict = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The outcome of CodeSystem/$lookup."""

    name: str
    system: str
    version: str
    code: str
    display: str | None
    definition: str | None
    status: str
    properties: tuple[tuple[str, PropertyValue], ...] = ()

    def to_parameters(self) -> JsonDict:
        """The $lookup output Parameters resource."""
        parameter: list[JsonDict] = [
            {"name": "name", "valueString": self.name},
            {"name": "version", "valueString": self.version},
        ]
        if self.display:
            parameter.append({"name": "display", "valueString": self.display})
        if self.definition:
            parameter.append({"name": "definition", "valueString": self.definition})
        for code, value in self.properties:
            part = [{"name": "code", "valueCode": code}, _value(value)]
            parameter.append({"name": "property", "part": part})
        return {"resourceType": "Parameters", "parameter": parameter}


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome of $validate-code: ``result`` and, when false or notable, why."""

    result: bool
    message: str | None = None
    system: str | None = None
    code: str | None = None
    display: str | None = None
    version: str | None = None
    replaced_by: str | None = None

    def to_parameters(self) -> JsonDict:
        """The $validate-code output Parameters resource."""
        parameter: list[JsonDict] = [{"name": "result", "valueBoolean": self.result}]
        if self.message:
            parameter.append({"name": "message", "valueString": self.message})
        if self.display:
            parameter.append({"name": "display", "valueString": self.display})
        return {"resourceType": "Parameters", "parameter": parameter}


@dataclass(frozen=True, slots=True)
class Translation:
    """One target of a ConceptMap element ($translate match)."""

    system: str
    code: str
    display: str | None
    equivalence: str
    source: str = field(default="")


def _value(value: PropertyValue) -> JsonDict:
    if isinstance(value, bool):
        return {"name": "value", "valueBoolean": value}
    if isinstance(value, int):
        return {"name": "value", "valueInteger": value}
    if isinstance(value, float):
        return {"name": "value", "valueDecimal": value}
    return {"name": "value", "valueString": value}

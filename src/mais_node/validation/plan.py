"""Compiling a StructureDefinition's differential into a validation plan (FHIR R4 §ElementDefinition,
§Profiling: cardinality, fixed[x]/pattern[x], binding, type, constraint, slicing).

A plan is a flat list of element rules, each addressed by its steps from the root
(``Task.input:requestedItem.type`` becomes ``(input, requestedItem), (type, None)``), plus the discriminators
that decide which slice a repeating element's items belong to. FHIRPath invariants are compiled here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import fhirpathpy

from mais_node.errors import InvalidRequest
from mais_node.validation.memo import analyse
from mais_node.validation.native import NATIVE, NativeEvaluator

FhirPath = Callable[..., list[Any]]
EXTENSION_URL = "url"


class Step(NamedTuple):
    """One element name on a path, with the slice it names (a tuple: steps are hashed on every walk)."""

    name: str
    slice: str | None = None


Steps = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class TypeRule:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Invariant:
    """A constraint with its compiled expression, what memoising its verdict may key on (see ``memo``), and the
    native evaluator written for exactly this expression, if any (see ``native``)."""

    key: str
    severity: str
    human: str
    expression: str
    evaluate: FhirPath
    memoisable: bool = False
    reads: frozenset[str] | None = None
    native: NativeEvaluator | None = None

    def holds(self, value: Any) -> bool:
        """The verdict on one focus: every result is ``true`` (a FHIRPath runtime failure is the instance's fault)."""
        if self.native is not None:
            verdict = self.native(value)
            if verdict is not None:
                return verdict
        try:
            outcome = self.evaluate(value)
        except Exception:
            return False
        return all(item is True for item in outcome)


@dataclass(frozen=True, slots=True)
class Discriminator:
    """One way to tell a slice: the value at ``path`` equals (fixed) or contains (pattern) ``expected``."""

    kind: str
    path: tuple[str, ...]
    expected: Any


@dataclass(frozen=True, slots=True)
class SliceRule:
    name: str
    discriminators: tuple[Discriminator, ...]


@dataclass(frozen=True, slots=True)
class Slicing:
    rules: str
    slices: tuple[SliceRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ElementRule:
    id: str
    steps: Steps
    min: int | None = None
    max: int | None = None
    fixed: Any = None
    pattern: Any = None
    binding: str | None = None
    types: tuple[TypeRule, ...] = ()
    invariants: tuple[Invariant, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled profile: its url, the resource or data type it constrains, its rules and slicings."""

    url: str
    type: str
    rules: tuple[ElementRule, ...]
    slicings: Mapping[Steps, Slicing] = field(default_factory=dict)


def compile_profile(definition: Mapping[str, Any]) -> Plan:
    """Compile one StructureDefinition (its differential) into a plan."""
    url = str(definition["url"])
    elements = definition.get("differential", {}).get("element", [])
    rules = tuple(_rule(element) for element in elements)
    by_steps = {rule.steps: (rule, element) for rule, element in zip(rules, elements, strict=True)}
    slicings: dict[Steps, Slicing] = {}
    for rule, element in zip(rules, elements, strict=True):
        slice_names = [r.steps[-1].slice for r in rules if _is_slice_of(r.steps, rule.steps)]
        if "slicing" in element or (slice_names and rule.steps[-1].name == "extension"):
            slicings[rule.steps] = _slicing(rule.steps, element.get("slicing", {}), slice_names, by_steps)
    return Plan(url=url, type=str(definition["type"]), rules=rules, slicings=slicings)


def parse_steps(element_id: str) -> Steps:
    """``Task.input:requestedItem.value[x]`` → steps after the root name."""
    return tuple(Step(*part.split(":", 1)) if ":" in part else Step(part) for part in element_id.split(".")[1:])


def _rule(element: Mapping[str, Any]) -> ElementRule:
    element_id = str(element.get("id") or element["path"])
    maximum = element.get("max")
    binding = element.get("binding", {})
    return ElementRule(
        id=element_id,
        steps=parse_steps(element_id),
        min=element.get("min"),
        max=None if maximum in (None, "*") else int(maximum),
        fixed=_choice(element, "fixed"),
        pattern=_choice(element, "pattern"),
        binding=binding.get("valueSet") if binding.get("strength") == "required" else None,
        types=tuple(
            TypeRule(str(t["code"]), tuple(t.get("profile", ())), tuple(t.get("targetProfile", ())))
            for t in element.get("type", ())
        ),
        invariants=tuple(_invariant(c) for c in element.get("constraint", ())),
    )


def _choice(element: Mapping[str, Any], prefix: str) -> Any:
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return value
    return None


def _invariant(constraint: Mapping[str, Any]) -> Invariant:
    expression = str(constraint["expression"])
    memoisable, reads = analyse(expression)
    return Invariant(
        key=str(constraint.get("key", "")),
        severity=str(constraint.get("severity", "error")),
        human=str(constraint.get("human", expression)),
        expression=expression,
        evaluate=fhirpathpy.compile(expression),
        memoisable=memoisable,
        reads=reads,
        native=NATIVE.get(expression),
    )


def _is_slice_of(steps: Steps, sliced: Steps) -> bool:
    return (
        len(steps) == len(sliced) > 0
        and steps[:-1] == sliced[:-1]
        and steps[-1].name == sliced[-1].name
        and sliced[-1].slice is None
        and steps[-1].slice is not None
    )


def _slicing(
    steps: Steps,
    slicing: Mapping[str, Any],
    slice_names: Sequence[str | None],
    by_steps: Mapping[Steps, tuple[ElementRule, Mapping[str, Any]]],
) -> Slicing:
    declared = slicing.get("discriminator") or [{"type": "value", "path": EXTENSION_URL}]
    slices = []
    for name in slice_names:
        base = (*steps[:-1], Step(steps[-1].name, name))
        found = tuple(_discriminator(base, d, by_steps) for d in declared)
        slices.append(SliceRule(str(name), found))
    return Slicing(rules=str(slicing.get("rules", "open")), slices=tuple(slices))


def _discriminator(
    base: Steps, declared: Mapping[str, Any], by_steps: Mapping[Steps, tuple[ElementRule, Mapping[str, Any]]]
) -> Discriminator:
    path = str(declared["path"])
    names = () if path == "$this" else tuple(path.split("."))
    slice_rule, _ = by_steps[base]
    target = by_steps.get((*base, *(Step(n) for n in names)))
    if target is not None and (target[0].fixed is not None or target[0].pattern is not None):
        rule = target[0]
        kind = "fixed" if rule.fixed is not None else "pattern"
        return Discriminator(kind, names, rule.fixed if rule.fixed is not None else rule.pattern)
    if not names and slice_rule.pattern is not None:
        return Discriminator("pattern", names, slice_rule.pattern)
    profiles = [p for t in slice_rule.types for p in t.profiles]
    if names == (EXTENSION_URL,) and profiles:
        return Discriminator("fixed", names, profiles[0])
    raise InvalidRequest(f"slice {base[-1].slice} has no value for its discriminator {path}")

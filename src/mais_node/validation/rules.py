"""The checks one element rule makes on one value (FHIR R4 §ElementDefinition: fixed[x], pattern[x], binding,
constraint; §References: contained targets)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mais_node.errors import Issue, NotFound
from mais_node.terminology import TerminologyService
from mais_node.validation.instance import Node, matches_pattern
from mais_node.validation.memo import InvariantMemo
from mais_node.validation.plan import ElementRule, Invariant


def check_values(rule: ElementRule, node: Node) -> list[Issue]:
    """fixed[x] (exactly this value) and pattern[x] (at least these parts)."""
    issues = []
    if rule.fixed is not None and node.value != rule.fixed:
        issues.append(_issue(f"value must be exactly {_show(rule.fixed)} ({rule.id})", "value", node))
    if rule.pattern is not None and not matches_pattern(node.value, rule.pattern):
        issues.append(_issue(f"value must match the pattern {_show(rule.pattern)} ({rule.id})", "value", node))
    return issues


def check_binding(value_set: str, node: Node, terminology: TerminologyService) -> list[Issue]:
    """A required binding: a code, a Coding, or a CodeableConcept with one Coding from the ValueSet."""
    value = node.value
    if isinstance(value, str):
        codings: Sequence[Mapping[str, Any]] = [{"code": value}]
    elif isinstance(value, Mapping) and "coding" in value:
        codings = [c for c in value["coding"] if isinstance(c, Mapping)] if isinstance(value["coding"], list) else []
    elif isinstance(value, Mapping) and "code" in value:
        codings = [value]
    else:
        return [_issue(f"a code from {value_set} is required", "code-invalid", node)]
    messages = []
    for coding in codings:
        code = coding.get("code")
        if not isinstance(code, str):
            continue
        system = coding.get("system") if isinstance(coding.get("system"), str) else None
        try:
            verdict = terminology.validate_code(value_set, code, system=system)
        except NotFound:
            return [
                _issue(
                    f"the ValueSet {value_set} is not known here; code not checked",
                    "not-supported",
                    node,
                    "warning",
                )
            ]
        if verdict.result:
            return []
        messages.append(verdict.message or f"code '{code}' is not valid")
    detail = "; ".join(messages) if messages else "no code given"
    return [_issue(f"{detail} (required binding to {value_set})", "code-invalid", node)]


def check_invariants(invariants: Iterable[Invariant], node: Node, memo: InvariantMemo | None = None) -> list[Issue]:
    """FHIRPath constraints: the compiled expression must not evaluate to false on the value.

    With a ``memo``, a verdict already reached on an equal focus is reused (exactly the same issues, sooner)."""
    if node.value is None:
        return []
    issues = []
    for invariant in invariants:
        if memo is not None and invariant.memoisable:
            holds = memo.holds(invariant.expression, invariant.reads, node.value, invariant.holds)
        else:
            holds = invariant.holds(node.value)
        if not holds:
            issues.append(_issue(f"{invariant.key}: {invariant.human}", "invariant", node, invariant.severity))
    return issues


def reference_target(node: Node, container: Node, kinds: set[str]) -> tuple[Node | None, str]:
    """The contained resource a local reference points at, or the problem with the reference's target type."""
    reference = node.value.get("reference")
    if not isinstance(reference, str):
        return None, ""
    expected = " or ".join(sorted(kinds))
    if not reference.startswith("#"):
        parts = reference.split("/")
        kind = parts[-2] if len(parts) >= 2 else ""
        if kind and kind not in kinds:
            return None, f"reference {reference} is not to a {expected}"
        return None, ""
    contained = container.value.get("contained") if isinstance(container.value, Mapping) else None
    for index, resource in enumerate(contained if isinstance(contained, list) else []):
        if isinstance(resource, Mapping) and resource.get("id") == reference[1:]:
            found = resource.get("resourceType")
            if not isinstance(found, str) or found not in kinds:  # a list is no type name, and is unhashable
                return None, f"reference {reference} is to a {found}, not a {expected}"
            return Node(resource, f"{container.path}.contained[{index}]"), ""
    return None, f"reference {reference} names no contained resource"


def _issue(diagnostics: str, code: str, node: Node, severity: str = "error") -> Issue:
    return Issue(diagnostics, code, severity, (node.path,))


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)

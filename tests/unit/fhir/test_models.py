"""Structural validation of a resource body through the R4B models (R4 §3.1.0.4: basic validation answers 400)."""

from __future__ import annotations

from typing import Any

import pytest

from mais_node.errors import InvalidRequest
from mais_node.fhir.models import check_structure, misnamed_resources, structure_issues


def task(*contained: Any) -> dict[str, Any]:
    return {"resourceType": "Task", "status": "draft", "intent": "order", "contained": list(contained)}


@pytest.mark.parametrize(
    ("kind", "diagnostics", "code"),
    [
        ("Patien", "Unknown resourceType 'Patien'", "not-supported"),
        ("", "Unknown resourceType ''", "not-supported"),
        (None, "resourceType is missing", "required"),
        (["Patient"], "resourceType is missing", "required"),
    ],
)
def test_a_contained_resource_of_no_known_type_is_an_issue_not_a_crash(kind: Any, diagnostics: str, code: str) -> None:
    """fhir.resources raises KeyError or TypeError here, not a ValidationError."""
    body = task({"resourceType": "Patient"}, {"resourceType": kind, "id": "x"})
    [issue] = structure_issues(body)
    assert (issue.diagnostics, issue.code, issue.expression) == (diagnostics, code, ("Task.contained[1].resourceType",))
    with pytest.raises(InvalidRequest):
        check_structure(body)


def test_misnamed_resources_are_found_at_any_depth_but_the_root_is_left_to_the_caller() -> None:
    bundle = {"resourceType": "Nope", "entry": [{"resource": task({"resourceType": "Patien"})}]}
    assert misnamed_resources("Bundle", bundle) == [("Bundle.entry[0].resource.contained[0].resourceType", "Patien")]
    assert misnamed_resources("Task", task({"resourceType": "Patient"})) == []


def test_a_valid_body_and_ordinary_errors_are_unchanged() -> None:
    assert structure_issues(task({"resourceType": "Patient", "id": "p"})) == []
    [issue] = structure_issues({**task(), "unknownElement": 1})
    assert (issue.diagnostics, issue.code) == ("Unknown element", "structure")
    assert issue.expression == ("Task.unknownElement",)

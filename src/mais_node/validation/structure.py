"""Base FHIR R4 structure (unknown elements, data types, choice rules) through the ``fhir.resources.R4B``
models, with pydantic errors turned into issues located by FHIRPath."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from mais_node.errors import Issue
from mais_node.fhir.bindings import binding_issues
from mais_node.fhir.models import misnamed_resources, value_message

# pydantic error type → FHIR IssueType (the table fhirstarter keeps, reduced to what R4B models raise)
ISSUE_CODES = {
    "extra_forbidden": "structure",
    "missing": "required",
    "list_type": "structure",
    "dict_type": "structure",
    "model_type": "structure",
}


def check_structure(resource: Mapping[str, Any]) -> list[Issue]:
    """Issues found by the R4B model of the resource's type, and the codes R4's required bindings do not allow."""
    issues = _model_issues(resource)
    if not any(i.expression == ("resourceType",) for i in issues):
        issues.extend(binding_issues(resource))
    return issues


def _model_issues(resource: Mapping[str, Any]) -> list[Issue]:
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        return [Issue("resourceType is missing", "required", "error", ("resourceType",))]
    try:
        model = get_fhir_model_class(kind)
    except (ValueError, KeyError):
        return [Issue(f"{kind} is not a FHIR R4 resource type", "not-supported", "error", ("resourceType",))]
    try:
        model.model_validate(resource)
    except (KeyError, TypeError):
        misnamed = misnamed_resources(kind, resource)
        if not misnamed:
            raise
        return [
            Issue(f"{value[:64]} is not a FHIR R4 resource type", "not-supported", "error", (path,))
            if isinstance(value, str)
            else Issue("resourceType is missing", "required", "error", (path,))
            for path, value in misnamed
        ]
    except ValidationError as exc:
        return [
            Issue(
                _message(error),
                ISSUE_CODES.get(error["type"], "value"),
                "error",
                (_path(kind, error["loc"]),),
            )
            for error in exc.errors(include_url=False, include_input=False)
        ]
    return []


def _path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}"
    return path


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown element"
    return value_message(str(error["msg"]))

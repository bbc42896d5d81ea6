"""The one import shim for ``fhir.resources`` (its R4B package, wire-compatible with R4 for every type used here).

Structural validation of a resource body turns pydantic errors into ``Issue`` objects with a FHIRPath location,
after the table fhirstarter keeps from pydantic error types to OperationOutcome issue codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from mais_node.errors import InvalidRequest, Issue
from mais_node.fhir.bindings import binding_issues

# Types the node stores and serves through the REST interactions (DESIGN §4).
STORED_TYPES: tuple[str, ...] = (
    "Patient",
    "EpisodeOfCare",
    "Organization",
    "Endpoint",
    "CodeSystem",
    "ValueSet",
    "Task",
    "AuditEvent",
)

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

_ISSUE_CODES: Mapping[str, str] = {
    "extra_forbidden": "structure",
    "missing": "required",
    "value_error": "value",
    "string_type": "value",
    "int_type": "value",
    "bool_type": "value",
    "list_type": "structure",
    "dict_type": "structure",
    "model_type": "structure",
    "literal_error": "code-invalid",
    "enum": "code-invalid",
}

_MESSAGES: Mapping[str, str] = {
    "extra_forbidden": "Unknown element",
    "missing": "Required element is missing",
}

# fhir.resources says "Date value string does not match spec regex": the reader needs the format (R4 §2.24.0.1).
_FORMATS: Mapping[str, str] = {
    "Date": "A date is written YYYY, YYYY-MM or YYYY-MM-DD: 3 October 1990 is 1990-10-03",
    "DateTime": (
        "A dateTime is written YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone:"
        " 3 October 1990 at 09:30 UK summer time is 1990-10-03T09:30:00+01:00"
    ),
    "Instant": "An instant is written YYYY-MM-DDThh:mm:ss with a time zone, as 2026-10-03T09:30:00Z",
    "Time": "A time is written hh:mm:ss on the 24-hour clock, as 14:30:00",
}


def value_message(message: str) -> str:
    """A pydantic message from fhir.resources, said so that the sender knows what to write instead."""
    message = message.removeprefix("Value error, ")
    kind, found, rest = message.partition(" value string does not match spec regex")
    if found and rest in ("", "."):
        return _FORMATS.get(kind, message)
    return message


# fhir.resources validates each nested element in Python, and orjson writes at most 254 levels: a body nested
# deeper (valid FHIR: extensions inside extensions) exhausted the stack (a 500). Resources here nest about 10.
MAX_DEPTH = 200


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a JSON value nests objects and arrays more than ``limit`` levels (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, dict | list))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, dict | list))
    return False


def valid_id(value: str) -> bool:
    """FHIR R4 id datatype: 1-64 of [A-Za-z0-9-.]."""
    return bool(_ID.match(value))


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def fhirpath(resource_type: str, loc: Sequence[int | str]) -> str:
    """Render a pydantic error location as a FHIRPath expression, e.g. ``Patient.name[0].family``."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("function-"):
            path += f".{part}"
    return path


def structure_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """Every structural problem of a resource body (unknown elements, wrong types, bad dates), and every code a
    required binding of R4 does not allow."""
    issues = _model_issues(resource)
    if not any(i.expression == ("resourceType",) for i in issues):
        issues.extend(binding_issues(resource))
    return issues


def _model_issues(resource: Mapping[str, Any]) -> list[Issue]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [Issue("resourceType is missing", "required", expression=("resourceType",))]
    try:
        model = _model(resource_type)
    except (KeyError, ValueError, AttributeError):
        return [Issue(f"Unknown resourceType '{resource_type[:64]}'", "not-supported", expression=("resourceType",))]
    if _deeper_than(resource, MAX_DEPTH):
        return [Issue(f"The resource is nested more than {MAX_DEPTH} levels deep", "too-costly")]
    try:
        model.model_validate(resource)
    except RecursionError:
        return [Issue("The resource is nested too deeply to be checked", "too-costly")]
    except (KeyError, TypeError):
        misnamed = misnamed_resources(resource_type, resource)
        if not misnamed:
            raise
        return [
            Issue(f"Unknown resourceType '{kind[:64]}'", "not-supported", expression=(path,))
            if isinstance(kind, str)
            else Issue("resourceType is missing", "required", expression=(path,))
            for path, kind in misnamed
        ]
    except ValidationError as exc:
        issues = []
        for error in exc.errors(include_input=False, include_url=False):
            kind = str(error["type"])
            message = _MESSAGES.get(kind) or value_message(str(error["msg"]))
            issues.append(
                Issue(
                    message,
                    _ISSUE_CODES.get(kind, "invalid"),
                    expression=(fhirpath(resource_type, error["loc"]),),
                )
            )
        return issues
    return []


def misnamed_resources(root: str, resource: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Nested resources whose ``resourceType`` names no R4B resource: (location of it, its value).

    ``fhir.resources`` raises KeyError or TypeError on these (``contained[0].resourceType = "Patien"``)
    instead of a ValidationError, so they are found here to be reported, not answered with a 500."""
    found: list[tuple[str, Any]] = []
    _misnamed(resource, root, found, nested=False)
    return found


def _misnamed(value: Any, path: str, found: list[tuple[str, Any]], *, nested: bool = True) -> None:
    if isinstance(value, Mapping):
        if nested and "resourceType" in value and not _resource_type(value["resourceType"]):
            found.append((f"{path}.resourceType", value["resourceType"]))
        for key, child in value.items():
            _misnamed(child, f"{path}.{key}", found)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _misnamed(child, f"{path}[{index}]", found)


def _resource_type(kind: Any) -> bool:
    if not isinstance(kind, str):
        return False
    try:
        _model(kind)
    except (KeyError, ValueError, AttributeError):
        return False
    return True


def check_structure(resource: Mapping[str, Any]) -> None:
    """Raise ``InvalidRequest`` listing every structural issue: R4 §3.1.0.4 answers basic validation failures 400."""
    issues = structure_issues(resource)
    if issues:  # fhir/outcome.py lists at most 100 of them and counts the rest (issue 13 §6)
        raise InvalidRequest(issues[0].diagnostics, issues=issues)


@lru_cache(maxsize=64)
def summary_elements(resource_type: str) -> frozenset[str]:
    """The top-level elements R4 marks ``isSummary`` for a type (its mandatory ones included), by JSON name."""
    return frozenset(_flagged(resource_type, "summary_element_property"))


@lru_cache(maxsize=64)
def mandatory_elements(resource_type: str) -> frozenset[str]:
    """The top-level elements a type requires (``min`` 1), by JSON name."""
    return frozenset(_flagged(resource_type, "element_required"))


def _flagged(resource_type: str, flag: str) -> list[str]:
    try:
        fields = _model(resource_type).model_fields
    except (KeyError, ValueError, AttributeError):
        return []
    return [
        str(f.alias or name)
        for name, f in fields.items()
        if isinstance(f.json_schema_extra, Mapping) and f.json_schema_extra.get(flag)
    ]

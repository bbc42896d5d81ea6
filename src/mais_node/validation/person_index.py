"""What a row of a node's own records must conform to before ``mais person import`` holds it (issue 12 item 12):
a person the MAIS person profile (so that the index can match them), a register entry the MAIS organisation
profile, and a team, which is no register entry, the one thing its contact needs: a name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mais_node.errors import Issue
from mais_node.validation import ORGANISATION_PROFILE, PERSON_PROFILE, PROFILE_BASE, Validator

Conformance = Callable[[Mapping[str, Any]], list[Issue]]


def is_register_entry(organisation: Mapping[str, Any]) -> bool:
    """Declares the MAIS organisation profile, or carries one of its register extensions."""
    meta = organisation.get("meta")
    declared = meta.get("profile", []) if isinstance(meta, Mapping) else []
    if ORGANISATION_PROFILE in (declared if isinstance(declared, list) else []):
        return True
    extensions = organisation.get("extension")
    return any(
        isinstance(e, Mapping) and str(e.get("url", "")).startswith(PROFILE_BASE)
        for e in (extensions if isinstance(extensions, list) else [])
    )


def person_index_conformance(validator: Validator) -> Conformance:
    """The profile check for one imported row, by its type."""

    def check(resource: Mapping[str, Any]) -> list[Issue]:
        kind = resource.get("resourceType")
        if kind == "Patient":
            return validator.validate(resource, PERSON_PROFILE)
        if kind == "Organization":
            if is_register_entry(resource):
                return validator.validate(resource, ORGANISATION_PROFILE)
            name = resource.get("name")
            if not isinstance(name, str) or not name.strip():
                return [
                    Issue(
                        "a team needs a name: a match's contact is the name and telecom of the team managing it",
                        "required",
                        expression=("Organization.name",),
                    )
                ]
        return []

    return check

"""What the node's own records must conform to beyond R4 (issue 12 items 7 and 12). Imported: a person the MAIS
person profile (so that the index can match them), a register entry the MAIS organisation profile, a team (no
register entry) the one thing its contact needs, a name. Written over REST: the profiles a resource declares, and
the organisation profile for a register entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mais_node.errors import Issue, NotConformant
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


def declared_conformance(validator: Callable[[], Validator]) -> Callable[[dict[str, Any]], None]:
    """The check a REST create or update makes beyond R4: a resource that declares one of the node's profiles in
    ``meta.profile``, and a register entry, must conform (``NotConformant``, 422, listing every issue).

    Tasks are left out: an enquiry Task is checked against ``mais-enquiry`` by the gates before it is answered, and
    the answered Task the node stores is its own building."""

    def check(resource: dict[str, Any]) -> None:
        kind = resource.get("resourceType")
        if kind == "Task":
            return
        meta = resource.get("meta")
        declared = meta.get("profile", []) if isinstance(meta, Mapping) else []
        declared = declared if isinstance(declared, list) else []
        register_entry = kind == "Organization" and is_register_entry(resource)
        if not declared and not register_entry:
            return  # nothing to check: the validator (and its look at the vocabularies) is not needed
        current = validator()
        if any(url in current.registry for url in declared):
            issues = current.validate(resource)
        elif register_entry:
            issues = current.validate(resource, ORGANISATION_PROFILE)
        else:
            return
        errors = [i for i in issues if i.severity in ("error", "fatal")]
        if errors:
            raise NotConformant(errors[0].diagnostics, issues=errors)

    return check

"""Validation of resources against the node's published profiles (FHIR R4 §Validation; issue 4 item 5).

registry = ProfileRegistry.from_directory(settings.profiles_dir)
issues = Validator(registry, terminology).validate(resource, profile_url)
"""

from __future__ import annotations

from mais_node.terminology import CANONICAL_BASE
from mais_node.validation.registry import ProfileRegistry
from mais_node.validation.structure import check_structure
from mais_node.validation.validator import Validator

PROFILE_BASE = f"{CANONICAL_BASE}/StructureDefinition"
ENQUIRY_PROFILE = f"{PROFILE_BASE}/mais-enquiry"
PERSON_PROFILE = f"{PROFILE_BASE}/mais-person"
ORGANISATION_PROFILE = f"{PROFILE_BASE}/mais-organisation"
PERSON_INFO_QUERY_IN_PROFILE = f"{PROFILE_BASE}/mais-person-info-query-in"
PERSON_INFO_QUERY_OUT_PROFILE = f"{PROFILE_BASE}/mais-person-info-query-out"
AUDIT_EVENT_PROFILE = f"{PROFILE_BASE}/mais-audit-event"

__all__ = [
    "AUDIT_EVENT_PROFILE",
    "ENQUIRY_PROFILE",
    "ORGANISATION_PROFILE",
    "PERSON_INFO_QUERY_IN_PROFILE",
    "PERSON_INFO_QUERY_OUT_PROFILE",
    "PERSON_PROFILE",
    "PROFILE_BASE",
    "ProfileRegistry",
    "Validator",
    "check_structure",
]

"""UK Core NHS number verification status stated by the operator for a whole import (``--nhs-verified``)."""

from __future__ import annotations

from typing import Any

from mais_node.matching.fhir_patient import NHS_VERIFICATION, UKCORE_VERIFICATION_SYSTEM, UKCORE_VERIFIED_CODE
from mais_node.matching.nhs_number import NHS_NUMBER_SYSTEM, nhs_number_valid


def mark_nhs_verified(patient: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The Patient with UK Core's NHS number verification status ``number-present-and-verified`` on its valid NHS
    number, unless that identifier already states a status (the record's own word stands)."""
    identifiers = patient.get("identifier")
    if not isinstance(identifiers, list):
        return patient, False
    for index, identifier in enumerate(identifiers):
        if not isinstance(identifier, dict) or identifier.get("system") != NHS_NUMBER_SYSTEM:
            continue
        if not nhs_number_valid(str(identifier.get("value", ""))):
            continue
        extensions = identifier.get("extension") or []
        if any(isinstance(e, dict) and e.get("url") == NHS_VERIFICATION for e in extensions):
            return patient, False
        coding = {
            "system": UKCORE_VERIFICATION_SYSTEM,
            "code": UKCORE_VERIFIED_CODE,
            "display": "Number present and verified",
        }
        stated = {"url": NHS_VERIFICATION, "valueCodeableConcept": {"coding": [coding]}}
        marked = [*identifiers[:index], {**identifier, "extension": [*extensions, stated]}, *identifiers[index + 1 :]]
        return {**patient, "identifier": marked}, True
    return patient, False

"""Builders: valid resources by default; a test changes only what it is about."""

from __future__ import annotations

from typing import Any

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"


def patient(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": "9434765919"}],
        "name": [{"use": "official", "family": "Smith", "given": ["John"]}],
        "gender": "male",
        "birthDate": "1990-05-01",
        "address": [{"line": ["1 High Street"], "city": "Leeds", "postalCode": "LS1 4AP"}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def organization(ods: str = "LA0001", name: str = "Leeds City Council", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Organization",
        "identifier": [{"system": ODS, "value": ods}],
        "name": name,
        "active": True,
    }
    body.update(changes)
    return body


def episode(patient_id: str, org_id: str | None = None, status: str = "active", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "status": status,
        "patient": {"reference": f"Patient/{patient_id}"},
        "period": {"start": "2026-01-10"},
    }
    if org_id:
        body["managingOrganization"] = {"reference": f"Organization/{org_id}"}
    body.update(changes)
    return body

"""The CapabilityStatement (FHIR R4 §2.40) generated from the declared search parameters and interactions.

Nothing here is written by hand per type: what the node declares is what it serves, so the statement cannot claim
an interaction or a parameter the node does not have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mais_node import __version__
from mais_node.fhir.search.params import COMMON, DECLARED

WRITE_INTERACTIONS = ("create", "update", "patch", "delete")
# JSON Patch is what R4 names; JSON Merge Patch is what clients such as fhirpy send (api/routes/rest.py).
PATCH_FORMATS = ("application/json-patch+json", "application/merge-patch+json")
READ_INTERACTIONS = ("read", "vread", "history-instance", "history-type", "search-type")
READ_ONLY_TYPES = ("AuditEvent",)


@dataclass(frozen=True, slots=True)
class OperationDecl:
    """An operation the node serves: its name (no $), the type it is on (or None), its definition URL."""

    name: str
    resource_type: str | None
    definition: str


OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_OPS = "https://mais.example.org/fhir/OperationDefinition"
_HL7 = "http://hl7.org/fhir/OperationDefinition"

# Types the node does not store but publishes profiles for.
UNSTORED = ("Parameters", "Bundle", "Device")

# Every operation the node serves (api/routes/enquiry.py and terminology.py), declared once here.
OPERATIONS: tuple[OperationDecl, ...] = (
    OperationDecl("person-info-query", "Patient", f"{_OPS}/person-info-query"),
    OperationDecl("what-if", "Patient", f"{_OPS}/what-if"),
    OperationDecl("match", "Patient", f"{_HL7}/Patient-match"),
    OperationDecl("review", "Task", f"{_OPS}/review"),
    OperationDecl("lookup", "CodeSystem", f"{_HL7}/CodeSystem-lookup"),
    OperationDecl("validate-code", "CodeSystem", f"{_HL7}/CodeSystem-validate-code"),
    OperationDecl("subsumes", "CodeSystem", f"{_HL7}/CodeSystem-subsumes"),
    OperationDecl("validate-code", "ValueSet", f"{_HL7}/ValueSet-validate-code"),
    OperationDecl("expand", "ValueSet", f"{_HL7}/ValueSet-expand"),
    *(
        OperationDecl("validate", rtype, f"{_HL7}/Resource-validate")
        for rtype in (*sorted(DECLARED), "AuditEvent", *UNSTORED)
    ),
)


def capability_statement(
    base: str,
    *,
    software_date: str,
    operations: Sequence[OperationDecl] = (),
    profiles: Mapping[str, Sequence[str]] | None = None,
    audit_params: Sequence[tuple[str, str]] = (),
    token_url: str | None = None,
) -> dict[str, Any]:
    profiles = profiles or {}
    resources: list[dict[str, Any]] = []
    for rtype, params in sorted(DECLARED.items()):
        resources.append(_resource(rtype, (*COMMON, *params), operations, profiles, writable=True))
    audit = {
        "type": "AuditEvent",
        "interaction": [{"code": c} for c in ("read", "vread", "search-type")],
        "searchParam": [{"name": n, "type": t} for n, t in audit_params],
    }
    if profiles.get("AuditEvent"):
        audit["supportedProfile"] = list(profiles["AuditEvent"])
    audit_ops = [_op(o) for o in operations if o.resource_type == "AuditEvent"]
    if audit_ops:
        audit["operation"] = audit_ops
    resources.append(audit)
    # Not stored, listed for their profiles: the MAIS operation's Parameters, and the national register's Bundle
    # and its systems' Devices (served at /register); each can be checked with $validate.
    for rtype in UNSTORED:
        entry: dict[str, Any] = {"type": rtype, "interaction": []}
        if profiles.get(rtype):
            entry["supportedProfile"] = list(profiles[rtype])
        entry_ops = [_op(o) for o in operations if o.resource_type == rtype]
        if entry_ops:
            entry["operation"] = entry_ops
        resources.append(entry)
    system_ops = [_op(o) for o in operations if o.resource_type is None]
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "description": "SMART Backend Services: client_credentials with private_key_jwt",
            **_oauth_uris(token_url),
        },
        "resource": resources,
        "interaction": [{"code": "history-system"}],
    }
    if system_ops:
        rest["operation"] = system_ops
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "kind": "instance",
        "software": {"name": "mais-node", "version": __version__},
        "implementation": {
            "description": "mais-node: MAIS enquiries under automated information governance",
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": list(PATCH_FORMATS),
        "rest": [rest],
    }


def _oauth_uris(token_url: str | None) -> dict[str, Any]:
    """SMART's oauth-uris extension on rest.security: where clients that start from /metadata (fhirclient) find the
    token endpoint. Backend services have no authorize endpoint, so the token URL is the only one."""
    if token_url is None:
        return {}
    uris = [{"url": "token", "valueUri": token_url}]
    return {"extension": [{"url": OAUTH_URIS, "extension": uris}]}


def _op(op: OperationDecl) -> dict[str, Any]:
    return {"name": op.name, "definition": op.definition}


def _resource(
    rtype: str,
    params: Sequence[Any],
    operations: Sequence[OperationDecl],
    profiles: Mapping[str, Sequence[str]],
    *,
    writable: bool,
) -> dict[str, Any]:
    interactions = [*READ_INTERACTIONS, *(WRITE_INTERACTIONS if writable else ())]
    entry: dict[str, Any] = {
        "type": rtype,
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "interaction": [{"code": c} for c in interactions],
        "searchParam": [{"name": p.name, "type": p.type, "documentation": p.description} for p in params],
        "searchInclude": [f"{rtype}:{p.name}" for p in params if p.type == "reference"],
        "searchRevInclude": [
            f"{other}:{p.name}"
            for other, others in sorted(DECLARED.items())
            for p in others
            if p.type == "reference" and rtype in p.targets
        ],
    }
    if profiles.get(rtype):
        entry["supportedProfile"] = list(profiles[rtype])
    ops = [_op(o) for o in operations if o.resource_type == rtype]
    if ops:
        entry["operation"] = ops
    return entry

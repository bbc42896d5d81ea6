"""The parties and codes of an AuditEvent (IHE BALP 1.1, FHIR R4 AuditEvent.agent / source / entity).

``Actor`` is the requesting side (organisation, system, asserted user, purpose of use); ``Node`` is this node
(the audit source and the responding party); ``Subject`` is the person an event is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
BALP_ENTITY = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
BALP_PROFILE = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
OUTCOME = {"permit": "0", "review": "0", "deny": "8"}

Decision = Literal["permit", "deny", "review"]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def json(self) -> Json:
        out: Json = {"system": self.system, "code": self.code}
        return out | ({"display": self.display} if self.display else {})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asked: organisation (ODS), system (client id), the user it asserts, and purpose of use."""

    org_ods: str | None = None
    client_id: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    user_role: Coding | None = None
    purpose: tuple[Coding, ...] = ()  # HL7 PurposeOfUse and the MAIS asserted-purpose code
    address: str | None = None
    user_system: str = "https://fhir.nhs.uk/Id/sds-user-id"


@dataclass(frozen=True, slots=True)
class Node:
    """This node: audit source and responding party; ``canonical_base`` roots our own codes."""

    ods: str
    name: str
    site: str
    canonical_base: str

    def code(self, code: str) -> Coding:
        return Coding(f"{self.canonical_base}/CodeSystem/audit-event-subtype", code)

    def identifier(self, kind: str, value: str) -> Json:
        return {"identifier": {"system": f"{self.canonical_base}/Id/{kind}", "value": value}}


@dataclass(frozen=True, slots=True)
class Subject:
    """The person an event is about: by NHS number, by a Patient reference, or only by a display."""

    nhs_number: str | None = None
    reference: str | None = None
    display: str | None = None

    def what(self) -> Json:
        out: Json = {"reference": self.reference} if self.reference else {}
        if self.nhs_number:
            out["identifier"] = {"system": NHS_NUMBER, "value": self.nhs_number}
        return out | ({"display": self.display} if self.display else {})

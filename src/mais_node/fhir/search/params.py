"""The search parameters the node supports, declared once as data.

Both the parser and the CapabilityStatement read this table, so ``/fhir/metadata`` can never claim a parameter the
node does not search on. Paths are dotted element paths; arrays are walked through (FHIR R4 §3.1.1.4.x).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ParamType = Literal["string", "token", "date", "reference", "uri"]


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: ParamType
    paths: tuple[str, ...]
    description: str
    targets: tuple[str, ...] = ()
    # The code system of a ``code`` element (R4: a required binding to one system), which a token search may name
    # as ``system|code`` although the stored element holds the bare code.
    system: str | None = None


def _p(
    name: str, type_: ParamType, *paths: str, doc: str, targets: tuple[str, ...] = (), system: str | None = None
) -> SearchParam:
    return SearchParam(name, type_, paths, doc, targets, system)


_HL7 = "http://hl7.org/fhir"


# Parameters every type has (R4 §3.1.1.4.1). Values come from the resource's own id and meta.
COMMON: tuple[SearchParam, ...] = (
    _p("_id", "token", "id", doc="Logical id of the resource"),
    _p("_lastUpdated", "date", "meta.lastUpdated", doc="When the resource last changed"),
)

_IDENTIFIER = "identifier"

DECLARED: Mapping[str, tuple[SearchParam, ...]] = {
    "Patient": (
        _p("identifier", "token", _IDENTIFIER, doc="A patient identifier (NHS number, local id)"),
        _p("name", "string", "name", doc="Any part of any name"),
        _p("family", "string", "name.family", doc="Family name"),
        _p("given", "string", "name.given", doc="Given name"),
        _p("birthdate", "date", "birthDate", doc="Date of birth"),
        _p("gender", "token", "gender", doc="Stated gender", system=f"{_HL7}/administrative-gender"),
        _p("address", "string", "address", doc="Any part of any address"),
        _p("address-postalcode", "string", "address.postalCode", doc="Postcode"),
        _p("active", "token", "active", doc="Whether the record is in active use"),
        _p(
            "organization",
            "reference",
            "managingOrganization",
            doc="Managing organisation",
            targets=("Organization",),
        ),
    ),
    "EpisodeOfCare": (
        _p("identifier", "token", _IDENTIFIER, doc="Business identifier"),
        _p("patient", "reference", "patient", doc="The person the episode is about", targets=("Patient",)),
        _p(
            "organization",
            "reference",
            "managingOrganization",
            doc="The organisation holding the involvement",
            targets=("Organization",),
        ),
        _p(
            "status",
            "token",
            "status",
            doc="planned | waitlist | active | onhold | finished | cancelled",
            system=f"{_HL7}/episode-of-care-status",
        ),
        _p("type", "token", "type", doc="Type of involvement"),
        _p("date", "date", "period", doc="The period of the episode"),
    ),
    "Organization": (
        _p("identifier", "token", _IDENTIFIER, doc="ODS code or other identifier"),
        _p("name", "string", "name", "alias", doc="Name or alias"),
        _p("type", "token", "type", doc="Organisation type"),
        _p("active", "token", "active", doc="Whether the organisation is active"),
        _p(
            "endpoint",
            "reference",
            "endpoint",
            doc="Where the organisation's node answers",
            targets=("Endpoint",),
        ),
        _p("partof", "reference", "partOf", doc="The parent organisation", targets=("Organization",)),
    ),
    "Endpoint": (
        _p("identifier", "token", _IDENTIFIER, doc="Endpoint identifier"),
        _p("name", "string", "name", doc="Endpoint name"),
        _p("organization", "reference", "managingOrganization", doc="Owner", targets=("Organization",)),
        _p(
            "status",
            "token",
            "status",
            doc="active | suspended | error | off | entered-in-error",
            system=f"{_HL7}/endpoint-status",
        ),
        _p("connection-type", "token", "connectionType", doc="Protocol of the endpoint"),
    ),
    "CodeSystem": (
        _p("url", "uri", "url", doc="Canonical URL"),
        _p("version", "token", "version", doc="Business version"),
        _p("name", "string", "name", doc="Computer-friendly name"),
        _p("title", "string", "title", doc="Human-friendly title"),
        _p("status", "token", "status", doc="draft | active | retired", system=f"{_HL7}/publication-status"),
        _p("code", "token", "concept.code", doc="A code defined in the system"),
    ),
    "ValueSet": (
        _p("url", "uri", "url", doc="Canonical URL"),
        _p("version", "token", "version", doc="Business version"),
        _p("name", "string", "name", doc="Computer-friendly name"),
        _p("title", "string", "title", doc="Human-friendly title"),
        _p("status", "token", "status", doc="draft | active | retired", system=f"{_HL7}/publication-status"),
    ),
    "Contract": (
        _p("identifier", "token", _IDENTIFIER, doc="The sharing policy's identifier"),
        _p(
            "status",
            "token",
            "status",
            doc="executed (in force) | terminated (retired)",
            system=f"{_HL7}/contract-status",
        ),
        _p("title", "string", "title", doc="Title of the agreement"),
    ),
    "Task": (
        _p("identifier", "token", _IDENTIFIER, doc="Request identifier"),
        _p("status", "token", "status", doc="Task status", system=f"{_HL7}/task-status"),
        _p("business-status", "token", "businessStatus", doc="The enquiry outcome"),
        _p("code", "token", "code", doc="Request type"),
        _p("reason-code", "token", "reasonCode", doc="Asserted purpose"),
        _p(
            "requester",
            "reference",
            "requester",
            doc="Who asked",
            targets=("Organization", "PractitionerRole"),
        ),
        _p("owner", "reference", "owner", doc="Who answers", targets=("Organization",)),
        _p("subject", "reference", "for", doc="The subject of the enquiry", targets=("Patient",)),
        _p("authored-on", "date", "authoredOn", doc="When the enquiry was made"),
        _p("modified", "date", "lastModified", doc="When the enquiry last changed"),
        _p("requester-org", "token", "meta.tag", doc="The requesting organisation (ODS), as the node recorded it"),
    ),
}


def params_for(resource_type: str) -> Mapping[str, SearchParam]:
    """Every search parameter of one type, by name, the common ones included."""
    return {p.name: p for p in (*COMMON, *DECLARED.get(resource_type, ()))}


def sortable(param: SearchParam) -> bool:
    return param.type in ("string", "date", "token", "uri")

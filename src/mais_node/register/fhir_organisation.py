"""The register's fields on FHIR R4 Organization, as the ``mais-organisation`` profile and its extensions define."""

from __future__ import annotations

from typing import Any

from mais_node.register.areas import LAD_SYSTEM
from mais_node.register.model import ODS_SYSTEM, IgReference, Organisation

PROFILE_BASE = "https://mais.example.org/fhir/StructureDefinition"
PROFILE = f"{PROFILE_BASE}/mais-organisation"
TYPE_SYSTEM = "https://mais.example.org/fhir/CodeSystem/organisation-type"
OPERATIONAL = f"{PROFILE_BASE}/mais-operational-status"
TECHNICAL = f"{PROFILE_BASE}/mais-technical-status"
VERIFICATION = f"{PROFILE_BASE}/mais-verification-status"
VERIFICATION_DATE = f"{PROFILE_BASE}/mais-verification-date"
IG_REFERENCE = f"{PROFILE_BASE}/mais-ig-reference"
SYSTEM_PROVIDER = f"{PROFILE_BASE}/mais-system-provider"
SYSTEM_VERSION = f"{PROFILE_BASE}/mais-system-version"
AREA_SERVED = f"{PROFILE_BASE}/mais-area-served"
REGISTER_EXTENSIONS = (
    OPERATIONAL,
    TECHNICAL,
    VERIFICATION,
    VERIFICATION_DATE,
    IG_REFERENCE,
    SYSTEM_PROVIDER,
    SYSTEM_VERSION,
    AREA_SERVED,
)

Json = dict[str, Any]


def to_resource(org: Organisation, base: Json | None = None) -> Json:
    """The Organization for ``org``; fields of ``base`` the register does not own (address, telecom…) are kept."""
    body: Json = dict(base or {})
    body["resourceType"] = "Organization"
    if org.id:
        body["id"] = org.id
    body.pop("meta", None)
    profiles = [p for p in ((base or {}).get("meta") or {}).get("profile", []) if p != PROFILE]
    body["meta"] = {"profile": [PROFILE, *profiles]}
    others = [e for e in body.get("extension", []) if e.get("url") not in REGISTER_EXTENSIONS]
    body["extension"] = [*_extensions(org), *others]
    identifiers = [i for i in body.get("identifier", []) if i.get("system") != ODS_SYSTEM]
    body["identifier"] = [{"system": ODS_SYSTEM, "value": org.ods}, *identifiers]
    body["active"] = org.operational_status == "active"
    body["type"] = [{"coding": [{"system": TYPE_SYSTEM, "code": org.type}]}]
    body["name"] = org.name
    if org.endpoints:
        body["endpoint"] = [{"reference": f"Endpoint/{e}"} for e in org.endpoints]
    return body


def _extensions(org: Organisation) -> list[Json]:
    out: list[Json] = [
        {"url": OPERATIONAL, "valueCode": org.operational_status},
        {"url": TECHNICAL, "valueCode": org.technical_status},
        {"url": VERIFICATION, "valueCode": org.verification_status},
    ]
    if org.verification_date:
        out.append({"url": VERIFICATION_DATE, "valueDate": org.verification_date})
    out += [{"url": IG_REFERENCE, "valueIdentifier": {"system": r.system, "value": r.value}} for r in org.ig_references]
    if org.system_provider:
        out.append({"url": SYSTEM_PROVIDER, "valueString": org.system_provider})
    if org.system_version:
        out.append({"url": SYSTEM_VERSION, "valueString": org.system_version})
    out += [{"url": AREA_SERVED, "valueCoding": {"system": LAD_SYSTEM, "code": area}} for area in org.areas]
    return out


def from_resource(body: Json, version: int) -> Organisation | None:
    """The register entry an Organization carries, or None when it has no ODS code."""
    ods = next((i.get("value") for i in body.get("identifier", []) if i.get("system") == ODS_SYSTEM), None)
    if not isinstance(ods, str):
        return None
    ext: dict[str, list[Json]] = {}
    for e in body.get("extension", []):
        ext.setdefault(str(e.get("url")), []).append(e)

    def one(url: str, key: str, default: str | None = None) -> str | None:
        found = ext.get(url)
        value = found[0].get(key) if found else None
        return value if isinstance(value, str) else default

    codes = [c for t in body.get("type", []) for c in t.get("coding", []) if c.get("system") == TYPE_SYSTEM]
    refs = tuple(
        IgReference(str(e["valueIdentifier"].get("system", "")), str(e["valueIdentifier"].get("value", "")))
        for e in ext.get(IG_REFERENCE, [])
        if isinstance(e.get("valueIdentifier"), dict)
    )
    areas = tuple(
        str(e["valueCoding"].get("code"))
        for e in ext.get(AREA_SERVED, [])
        if isinstance(e.get("valueCoding"), dict) and e["valueCoding"].get("system") == LAD_SYSTEM
    )
    endpoints = tuple(
        str(r["reference"]).removeprefix("Endpoint/")
        for r in body.get("endpoint", [])
        if isinstance(r, dict) and str(r.get("reference", "")).startswith("Endpoint/")
    )
    # An Organization written without the register's extensions is not trusted to connect.
    return Organisation(
        ods=ods,
        name=str(body.get("name", "")),
        type=str(codes[0].get("code")) if codes else "",
        operational_status=one(OPERATIONAL, "valueCode", "inactive") or "inactive",
        technical_status=one(TECHNICAL, "valueCode", "inactive") or "inactive",
        verification_status=one(VERIFICATION, "valueCode", "unverified") or "unverified",
        verification_date=one(VERIFICATION_DATE, "valueDate"),
        ig_references=refs,
        system_provider=one(SYSTEM_PROVIDER, "valueString"),
        system_version=one(SYSTEM_VERSION, "valueString"),
        endpoints=endpoints,
        areas=areas,
        id=str(body.get("id")) if body.get("id") else None,
        version=version,
    )


def endpoint_resource(org_id: str, ods: str, address: str) -> Json:
    """The Endpoint where an organisation's node answers (FHIR REST)."""
    return {
        "resourceType": "Endpoint",
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest",
        },
        "name": f"MAIS node of {ods}",
        "managingOrganization": {"reference": f"Organization/{org_id}"},
        "payloadType": [{"text": "MAIS enquiry"}],
        "payloadMimeType": ["application/fhir+json"],
        "address": address,
    }

"""FHIR R4 Patient JSON to and from ``PersonRecord`` (MAIS person standard v0.2 alignment; UK Core identifiers).

Names: the first ``official`` name (or the first name without a use) gives family and given names; ``usual``
and ``nickname`` names give preferred names; ``old`` and ``maiden`` names give former family names. The birth
date's accuracy indicator is the extension ``BIRTH_DATE_ACCURACY`` on ``_birthDate`` (also read on the Patient);
the MAIS accuracy indicator (A, E or U for day, month and year) marks it estimated when any part is not A.
An NHS number is kept only when its check digit holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from mais_node.matching.nhs_number import NHS_NUMBER_SYSTEM, nhs_number_valid
from mais_node.matching.normalise import normalise_postcode
from mais_node.matching.record import Gender, PersonRecord

BIRTH_DATE_ACCURACY = "https://mais.example.org/fhir/StructureDefinition/mais-birth-date-accuracy"
NHS_VERIFICATION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
NHS_VERIFICATION_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
NHS_VERIFIED_CODE = "01"
# UK Core's later CodeSystem spells the status out; both mean the number was traced against the spine.
UKCORE_VERIFICATION_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus"
UKCORE_VERIFIED_CODE = "number-present-and-verified"
_VERIFIED_CODES = frozenset({NHS_VERIFIED_CODE, UKCORE_VERIFIED_CODE})
_PREFERRED_USES = {"usual", "nickname"}
_FORMER_USES = {"old", "maiden"}
_GENDERS = {gender.value for gender in Gender}

JSON = Mapping[str, Any]


def _extensions(element: object, url: str) -> list[JSON]:
    if not isinstance(element, Mapping):
        return []
    return [ext for ext in element.get("extension", ()) if isinstance(ext, Mapping) and ext.get("url") == url]


def _nhs_number(resource: JSON) -> tuple[str | None, bool]:
    for identifier in resource.get("identifier", ()):
        if not isinstance(identifier, Mapping) or identifier.get("system") != NHS_NUMBER_SYSTEM:
            continue
        value = str(identifier.get("value", ""))
        if not nhs_number_valid(value):
            continue
        verified = any(
            coding.get("code") in _VERIFIED_CODES
            for ext in _extensions(identifier, NHS_VERIFICATION)
            for coding in ext.get("valueCodeableConcept", {}).get("coding", ())
        )
        return value, verified
    return None, False


def _names(resource: JSON) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    names = [name for name in resource.get("name", ()) if isinstance(name, Mapping)]
    primary = next((name for name in names if name.get("use") == "official"), None) or next(
        (name for name in names if name.get("use") in (None, "temp", "anonymous")), None
    )
    preferred: list[str] = []
    former: list[str] = []
    for name in names:
        if name is primary:
            continue
        if name.get("use") in _PREFERRED_USES:
            preferred.extend(str(given) for given in name.get("given", ()))
        elif name.get("use") in _FORMER_USES and name.get("family"):
            former.append(str(name["family"]))
    if primary is None:
        return "", (), tuple(preferred), tuple(former)
    given = tuple(str(part) for part in primary.get("given", ()))
    return str(primary.get("family", "")), given, tuple(preferred), tuple(former)


def _birth(resource: JSON) -> tuple[date | None, bool]:
    raw = resource.get("birthDate")
    try:
        birth = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        birth = None
    accuracy = _extensions(resource.get("_birthDate"), BIRTH_DATE_ACCURACY) + _extensions(resource, BIRTH_DATE_ACCURACY)
    return birth, any(_estimated(ext.get("valueCode")) for ext in accuracy)


def _estimated(code: Any) -> bool:
    """MAIS accuracy indicator: A(ccurate), E(stimated) or U(nknown) for day, month and year ("AAA" is exact)."""
    return isinstance(code, str) and (code == "estimated" or (code.isupper() and any(c in "EU" for c in code)))


def _postcode(resource: JSON) -> str | None:
    addresses = [
        address for address in resource.get("address", ()) if isinstance(address, Mapping) and address.get("postalCode")
    ]
    current = [address for address in addresses if address.get("use") in (None, "home", "temp")]
    for address in current or addresses:
        return normalise_postcode(str(address["postalCode"]))
    return None


def from_fhir_patient(resource: JSON) -> PersonRecord:
    """Read a FHIR R4 Patient (as parsed JSON) into a ``PersonRecord``."""
    nhs_number, verified = _nhs_number(resource)
    family, given, preferred, former = _names(resource)
    birth, estimated = _birth(resource)
    gender = str(resource.get("gender", Gender.UNKNOWN.value))
    return PersonRecord(
        id=str(resource.get("id", "")),
        family=family,
        given=given,
        preferred=preferred,
        former_families=former,
        nhs_number=nhs_number,
        nhs_verified=verified,
        birth_date=birth,
        birth_date_estimated=estimated,
        postcode=_postcode(resource),
        gender=Gender(gender) if gender in _GENDERS else Gender.UNKNOWN,
    )


def to_fhir_patient(record: PersonRecord) -> dict[str, Any]:
    """Write a ``PersonRecord`` as FHIR R4 Patient JSON that ``from_fhir_patient`` reads back unchanged."""
    resource: dict[str, Any] = {"resourceType": "Patient"}
    if record.id:
        resource["id"] = record.id
    if record.nhs_number:
        identifier: dict[str, Any] = {"system": NHS_NUMBER_SYSTEM, "value": record.nhs_number}
        if record.nhs_verified:
            coding = {"system": NHS_VERIFICATION_SYSTEM, "code": NHS_VERIFIED_CODE}
            identifier["extension"] = [{"url": NHS_VERIFICATION, "valueCodeableConcept": {"coding": [coding]}}]
        resource["identifier"] = [identifier]
    official: dict[str, Any] = {"use": "official"}
    if record.family:
        official["family"] = record.family
    if record.given:
        official["given"] = list(record.given)
    names: list[dict[str, Any]] = [official]
    if record.preferred:
        names.append({"use": "usual", "given": list(record.preferred)})
    names.extend({"use": "old", "family": family} for family in record.former_families)
    resource["name"] = names
    if record.gender is not Gender.UNKNOWN:
        resource["gender"] = record.gender.value
    if record.birth_date:
        resource["birthDate"] = record.birth_date.isoformat()
        accuracy = "EEE" if record.birth_date_estimated else "AAA"
        resource["_birthDate"] = {"extension": [{"url": BIRTH_DATE_ACCURACY, "valueCode": accuracy}]}
    if record.postcode:
        resource["address"] = [{"use": "home", "postalCode": record.postcode}]
    return resource

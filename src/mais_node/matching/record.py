"""The person as matching sees it (MAIS person standard v0.2: identifier, name, date of birth with accuracy
indicator, address postcode, stated gender), independent of FHIR or storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Gender(StrEnum):
    """FHIR R4 administrative gender (``Patient.gender``)."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One person: a record of the node's index, or the subject of an enquiry.

    ``nhs_number`` is set only when it passes the Modulus 11 check; ``former_families`` holds old and maiden
    family names; ``preferred`` holds given names the person is known by (FHIR name use usual or nickname).
    """

    id: str
    family: str = ""
    given: tuple[str, ...] = ()
    preferred: tuple[str, ...] = ()
    former_families: tuple[str, ...] = ()
    nhs_number: str | None = None
    nhs_verified: bool = False
    birth_date: date | None = None
    birth_date_estimated: bool = False
    postcode: str | None = None
    gender: Gender = Gender.UNKNOWN

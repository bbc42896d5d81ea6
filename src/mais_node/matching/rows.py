"""The compact row of a person in the index, and the ranking of candidate rows (issue 17 item 1).

A row is what scoring needs and nothing else: the id, the integer fields (NHS number, birth date ``yyyymmdd``,
packed postcode, flags) and the normalised names in one string. Every store keeps rows in this form, so that the
in-memory index, SQLite and MongoDB rank the same rows with the same function and give the same answers.

Names: ``family|former,…|given,…|preferred,…``. A normalised name holds only letters, digits, spacing marks and
single spaces (``normalise.fold``), so ``|`` and ``,`` never occur in one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from mais_node.matching.blocking import filing_keys
from mais_node.matching.fhir_patient import from_fhir_patient
from mais_node.matching.grades import Candidate, Grade
from mais_node.matching.profile import Profile, profile_of
from mais_node.matching.scoring import could_be_possible, score

VERIFIED, ESTIMATED, GENDER_SHIFT = 1, 2, 2


class PersonRow(NamedTuple):
    """One person as the index keeps them."""

    id: str
    nhs: int
    birth: int
    postcode: int
    flags: int
    names: str


class PersonEntry(NamedTuple):
    """What a store writes for one Patient: its row and the blocking keys it is filed under."""

    row: PersonRow
    keys: tuple[int, ...]


def row_of(person_id: str, profile: Profile) -> PersonRow:
    flags = (VERIFIED if profile.nhs_verified else 0) | (ESTIMATED if profile.estimated else 0)
    names = "|".join((profile.family, ",".join(profile.former), ",".join(profile.given), ",".join(profile.preferred)))
    flags |= profile.gender << GENDER_SHIFT
    return PersonRow(person_id, profile.nhs, profile.birth, profile.postcode, flags, names)


def _split(part: str) -> tuple[str, ...]:
    return tuple(part.split(",")) if part else ()


def profile_of_row(row: PersonRow) -> Profile:
    family, former, given, preferred = row.names.split("|")
    flags = row.flags
    return Profile(  # by position (nhs, nhs_verified, family, former, given, preferred, birth, estimated, postcode,
        # gender): a NamedTuple made from keywords costs twice as much, and this runs for every row a block scores
        row.nhs,
        bool(flags & VERIFIED),
        family,
        _split(former),
        _split(given),
        _split(preferred),
        row.birth,
        bool(flags & ESTIMATED),
        row.postcode,
        flags >> GENDER_SHIFT,
    )


def entry_of(person_id: str, profile: Profile) -> PersonEntry:
    return PersonEntry(row_of(person_id, profile), filing_keys(profile))


def person_entry(patient: Mapping[str, Any]) -> PersonEntry:
    """The index entry of a FHIR Patient (its ``id`` set): what every Patient write stores with the resource."""
    record = from_fhir_patient(patient)
    return entry_of(record.id, profile_of(record))


def rank(query: Profile, rows: Iterable[PersonRow], limit: int = 5) -> list[Candidate]:
    """The best candidates among ``rows``, strongest grade first; certainly-not candidates are left out.

    The integer fields are checked first (``could_be_possible``), so most rows of a block never have their names
    split or compared."""
    found: list[Candidate] = []
    for row in rows:
        flags = row.flags
        estimated, gender = bool(flags & ESTIMATED), flags >> GENDER_SHIFT
        if not could_be_possible(query, row.nhs, row.birth, estimated, row.postcode, gender):
            continue
        scored = score(query, profile_of_row(row))
        if scored.grade is not Grade.CERTAINLY_NOT:
            found.append(Candidate(row.id, scored.score, scored.grade, scored.features, scored.reasons))
    found.sort(key=lambda candidate: (-candidate.grade.rank, -candidate.score, candidate.id))
    return found[:limit]

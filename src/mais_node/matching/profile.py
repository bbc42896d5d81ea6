"""The normalised, comparable form of a person that scoring reads and the index stores in columns."""

from __future__ import annotations

from typing import NamedTuple

from mais_node.matching.normalise import birth_key, name_tokens, normalise_name, postcode_key
from mais_node.matching.record import Gender, PersonRecord

GENDER_CODES: dict[Gender, int] = {Gender.UNKNOWN: 0, Gender.MALE: 1, Gender.FEMALE: 2, Gender.OTHER: 3}


class Profile(NamedTuple):
    """Normalised fields: names as lower-case words, birth date as yyyymmdd, postcode and gender as integers.

    A zero means unknown for ``nhs``, ``birth``, ``postcode`` and ``gender``.
    """

    nhs: int
    nhs_verified: bool
    family: str
    former: tuple[str, ...]
    given: tuple[str, ...]
    preferred: tuple[str, ...]
    birth: int
    estimated: bool
    postcode: int
    gender: int


def profile_of(record: PersonRecord) -> Profile:
    """Normalise a record for comparison."""
    family = normalise_name(record.family)
    former = tuple(name for name in (normalise_name(old) for old in record.former_families) if name and name != family)
    given = name_tokens(record.given)
    preferred = tuple(name for name in name_tokens(record.preferred) if name not in given)
    return Profile(
        nhs=int(record.nhs_number) if record.nhs_number else 0,
        nhs_verified=record.nhs_verified and record.nhs_number is not None,
        family=family,
        former=former,
        given=given,
        preferred=preferred,
        birth=birth_key(record.birth_date),
        estimated=record.birth_date_estimated,
        postcode=postcode_key(record.postcode),
        gender=GENDER_CODES[record.gender],
    )

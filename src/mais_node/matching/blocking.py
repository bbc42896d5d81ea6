"""The blocking keys of the person index (DESIGN §3 "Matching"; issue 17): pure functions of a ``Profile``.

Every key is one integer: its kind in the bits from 44 up, its value below, so that one table (or one array field)
holds every kind and one lookup asks for all of an enquiry's keys at once. The kinds are those of issue 5's index:
the NHS number; the birth date; the Soundex of each family name (current and former) with two of the three parts
of the birth date (year and month, year and day, month and day), so that one wrong part, or day and month
transposed, still meets; the Soundex with the year alone for estimated dates (±1 year); the postcode sector with
the birth year (every year, a range, when the enquiry has no birth date).

``VERSION`` names this encoding: a store whose index rows were made by another one builds them again, once.
"""

from __future__ import annotations

from typing import NamedTuple

from mais_node.matching.normalise import soundex
from mais_node.matching.profile import Profile

VERSION = "1"
_SHIFT = 44
NHS, BIRTH, FAMILY_YM, FAMILY_YD, FAMILY_MD, FAMILY_ESTIMATED, SECTOR_YEAR = (kind << _SHIFT for kind in range(1, 8))
_SECTOR_DIVISOR = 37**2


class Lookup(NamedTuple):
    """What an enquiry asks the index for: rows filed under any of ``keys`` or any key within one of ``ranges``."""

    keys: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...] = ()


def _years(profile: Profile, widen: bool) -> tuple[int, ...]:
    year = profile.birth // 10000
    return (year - 1, year, year + 1) if widen else (year,)


def family_codes(profile: Profile) -> set[int]:
    """Soundex codes of the family names, current and former, and of each word of a double-barrelled one."""
    codes = {soundex(word) for name in (profile.family, *profile.former) for word in (name, *name.split()[1:])}
    codes.discard(0)
    return codes


def filing_keys(profile: Profile) -> tuple[int, ...]:
    """The keys a stored person is filed under, sorted, without repeats."""
    keys: set[int] = set()
    if profile.nhs:
        keys.add(NHS | profile.nhs)
    if profile.birth:
        year, month, day = profile.birth // 10000, profile.birth // 100 % 100, profile.birth % 100
        keys.add(BIRTH | profile.birth)
        for code in family_codes(profile):
            keys.add(FAMILY_YM | code * 1_000_000 + year * 100 + month)
            keys.add(FAMILY_YD | code * 1_000_000 + year * 100 + day)
            keys.add(FAMILY_MD | code * 10_000 + month * 100 + day)
            if profile.estimated:
                keys.update(FAMILY_ESTIMATED | code * 10_000 + near for near in _years(profile, True))
        if profile.postcode:
            sector = profile.postcode // _SECTOR_DIVISOR
            keys.update(SECTOR_YEAR | sector * 10000 + near for near in _years(profile, profile.estimated))
    return tuple(sorted(keys))


def lookup(profile: Profile) -> Lookup:
    """The keys an enquiry looks up: every stored person sharing one of them is a candidate."""
    keys: set[int] = set()
    ranges: list[tuple[int, int]] = []
    if profile.nhs:
        keys.add(NHS | profile.nhs)
    if profile.birth:
        keys.add(BIRTH | profile.birth)
        year, month, day = profile.birth // 10000, profile.birth // 100 % 100, profile.birth % 100
        # An estimated date may be wrong in any part within a year; otherwise the month may be the day.
        months = range(1, 13) if profile.estimated else (month, day) if day <= 12 else (month,)
        for code in family_codes(profile):
            family = code * 1_000_000
            for near in _years(profile, profile.estimated):
                keys.update(FAMILY_YM | family + near * 100 + guess for guess in months)
                keys.add(FAMILY_ESTIMATED | code * 10_000 + near)
            keys.add(FAMILY_YD | family + year * 100 + day)
            keys.add(FAMILY_MD | code * 10_000 + month * 100 + day)
    if profile.postcode:
        sector = profile.postcode // _SECTOR_DIVISOR
        if profile.birth:
            keys.update(SECTOR_YEAR | sector * 10000 + near for near in _years(profile, profile.estimated))
        else:
            ranges.append((SECTOR_YEAR | sector * 10000, SECTOR_YEAR | sector * 10000 + 9999))
    return Lookup(tuple(sorted(keys)), tuple(ranges))

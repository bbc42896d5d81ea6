"""The blocking keys of the person index (DESIGN §3 "Matching"; issue 17): pure functions of a ``Profile``.

Every key is one integer: its kind in the bits from 54 up, its value below, so that one table (or one array field)
holds every kind and one lookup asks for all of an enquiry's keys at once. The kinds are those of issue 5's index:
the NHS number; the birth date; the Soundex of each family name (current and former) with two of the three parts
of the birth date (year and month, year and day, month and day), so that one wrong part, or day and month
transposed, still meets; the Soundex with the year alone for estimated dates (±1 year); the postcode sector with
the birth year (every year, a range, when the enquiry has no birth date).

Every kind but the NHS number also carries a given-name letter in its lowest five bits, so that a block holds the
people born on a day *who share an initial*, not everyone born that day: at 1M people a lookup finds a sixth of
the people it used to, which keeps matching at ten million people within its budget (docs/decisions.md, "Blocking
keys carry a given-name letter"). A person is filed under the initial of each given and preferred name and, on the
birth date alone, under the family name's initial too (a given and family name written the other way round); an
enquiry asks the initials of its names and of each of their nicknames (Bill asks W for William too). A person
without a given name is filed under letter 0, which every enquiry also asks; an enquiry without a given name asks
the whole range of letters of each key. Two more kinds carry no letter and are small at any population: the
Soundex of a family name with the whole birth date, and the postcode sector with the whole birth date; with the NHS
number they still bring a twin, or anyone with the same birth date and family name or neighbourhood whatever their
given name, to be scored.

``VERSION`` names this encoding: a store whose index rows were made by another one builds them again, once.
"""

from __future__ import annotations

from typing import NamedTuple

from mais_node.matching.nicknames import nicknames_of
from mais_node.matching.normalise import soundex
from mais_node.matching.profile import Profile

VERSION = "2"
_SHIFT = 54
_LETTER_BITS = 5
_ALL_LETTERS = (1 << _LETTER_BITS) - 1
UNKNOWN_LETTER = 0
NHS, BIRTH, FAMILY_YM, FAMILY_YD, FAMILY_MD, FAMILY_ESTIMATED, SECTOR_YEAR, FAMILY_BIRTH, SECTOR_BIRTH = range(1, 10)
_SECTOR_DIVISOR = 37**2


class Lookup(NamedTuple):
    """What an enquiry asks the index for: rows filed under any of ``keys`` or any key within one of ``ranges``."""

    keys: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...] = ()


def _years(profile: Profile, widen: bool) -> tuple[int, ...]:
    year = profile.birth // 10000
    return (year - 1, year, year + 1) if widen else (year,)


def letter(name: str) -> int:
    """The blocking letter of a normalised name: 1-26 for a-z, 27 for any other first character."""
    first = name[:1]
    return ord(first) - 96 if "a" <= first <= "z" else 27


def family_codes(profile: Profile) -> set[int]:
    """Soundex codes of the family names, current and former, and of each word of a double-barrelled one."""
    codes = {soundex(word) for name in (profile.family, *profile.former) for word in (name, *name.split()[1:])}
    codes.discard(0)
    return codes


def filing_letters(profile: Profile) -> frozenset[int]:
    """The letters a stored person is filed under: the initial of each given and preferred name."""
    names = (*profile.given, *profile.preferred)
    if not names:
        return frozenset((UNKNOWN_LETTER,))
    return frozenset(letter(name) for name in names)


def asking_letters(profile: Profile) -> frozenset[int] | None:
    """The letters an enquiry asks: the initials of its given and preferred names and of each of their nicknames,
    and the unknown letter; None when it has no given name."""
    names = (*profile.given, *profile.preferred)
    if not names:
        return None
    return frozenset((UNKNOWN_LETTER, *(letter(other) for name in names for other in (name, *nicknames_of(name)))))


def _key(kind: int, value: int, one_letter: int) -> int:
    return kind << _SHIFT | value << _LETTER_BITS | one_letter


def _lettered(kind: int, value: int, letters: frozenset[int]) -> list[int]:
    return [_key(kind, value, one) for one in letters]


def _unlettered(profile: Profile) -> list[int]:
    """The keys without a letter: each family name's Soundex and the postcode sector, each with the birth date."""
    if not profile.birth:
        return []
    values = [(FAMILY_BIRTH, code * 100_000_000 + profile.birth) for code in family_codes(profile)]
    if profile.postcode:
        values.append((SECTOR_BIRTH, profile.postcode // _SECTOR_DIVISOR * 100_000_000 + profile.birth))
    return [kind << _SHIFT | value for kind, value in values]


def filing_keys(profile: Profile) -> tuple[int, ...]:
    """The keys a stored person is filed under, sorted, without repeats."""
    keys: set[int] = set()
    if profile.nhs:
        keys.add(NHS << _SHIFT | profile.nhs)
    if not profile.birth:
        return tuple(sorted(keys))
    letters = filing_letters(profile)
    year, month, day = profile.birth // 10000, profile.birth // 100 % 100, profile.birth % 100
    birth_letters = letters | {letter(profile.family)} if profile.family else letters
    keys.update(_lettered(BIRTH, profile.birth, birth_letters))
    plain: list[tuple[int, int]] = []
    for code in family_codes(profile):
        plain.append((FAMILY_YM, code * 1_000_000 + year * 100 + month))
        plain.append((FAMILY_YD, code * 1_000_000 + year * 100 + day))
        plain.append((FAMILY_MD, code * 10_000 + month * 100 + day))
        if profile.estimated:
            plain.extend((FAMILY_ESTIMATED, code * 10_000 + near) for near in _years(profile, True))
    if profile.postcode:
        sector = profile.postcode // _SECTOR_DIVISOR
        plain.extend((SECTOR_YEAR, sector * 10000 + near) for near in _years(profile, profile.estimated))
    for kind, value in plain:
        keys.update(_lettered(kind, value, letters))
    keys.update(_unlettered(profile))
    return tuple(sorted(keys))


def lookup(profile: Profile) -> Lookup:
    """The keys an enquiry looks up: every stored person sharing one of them is a candidate."""
    plain: set[tuple[int, int]] = set()
    keys: set[int] = set()
    ranges: list[tuple[int, int]] = []
    if profile.nhs:
        keys.add(NHS << _SHIFT | profile.nhs)
    if profile.birth:
        plain.add((BIRTH, profile.birth))
        year, month, day = profile.birth // 10000, profile.birth // 100 % 100, profile.birth % 100
        # An estimated date may be wrong in any part within a year; otherwise the month may be the day.
        months = range(1, 13) if profile.estimated else (month, day) if day <= 12 else (month,)
        for code in family_codes(profile):
            family = code * 1_000_000
            for near in _years(profile, profile.estimated):
                plain.update((FAMILY_YM, family + near * 100 + guess) for guess in months)
                plain.add((FAMILY_ESTIMATED, code * 10_000 + near))
            plain.add((FAMILY_YD, family + year * 100 + day))
            plain.add((FAMILY_MD, code * 10_000 + month * 100 + day))
    if profile.postcode:
        sector = profile.postcode // _SECTOR_DIVISOR
        if profile.birth:
            plain.update((SECTOR_YEAR, sector * 10000 + near) for near in _years(profile, profile.estimated))
        else:  # every year of the sector: one range over the years and, below them, every letter
            low = sector * 10000
            ranges.append((_key(SECTOR_YEAR, low, 0), _key(SECTOR_YEAR, low + 9999, _ALL_LETTERS)))
    keys.update(_unlettered(profile))
    letters = asking_letters(profile)
    for kind, value in sorted(plain):
        if letters is None:
            ranges.append((_key(kind, value, 0), _key(kind, value, _ALL_LETTERS)))
        else:
            keys.update(_lettered(kind, value, letters))
    return Lookup(tuple(sorted(keys)), tuple(ranges))

"""The node's person index: blocking, then scoring (DESIGN §3 "Matching"; issue 5 §6 performance).

A million people must fit well under 1.5 GB and answer in a few milliseconds, so the index keeps no record
objects: each person is a row of compact columns (``array`` of ints, names interned once in a table) and the
blocking keys map small integers to arrays of rows.

Blocks: the NHS number; the birth date; the Soundex of each family name (current and former) with two of the
three parts of the birth date (year and month, year and day, month and day), so that one wrong part, or day
and month transposed, still meets; the Soundex with the year alone for estimated dates (±1 year); the postcode
sector with the birth year (every year when the enquiry has no birth date).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from mais_node.matching.grades import Candidate, Grade
from mais_node.matching.normalise import soundex
from mais_node.matching.profile import Profile, profile_of
from mais_node.matching.record import PersonRecord
from mais_node.matching.scoring import could_be_possible, score

_VERIFIED, _ESTIMATED, _GENDER_SHIFT = 1, 2, 2
_SECTOR_DIVISOR = 37**2
_NO_EXTRA: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] = ((), (), ())


def _years(profile: Profile, widen: bool) -> tuple[int, ...]:
    year = profile.birth // 10000
    return (year - 1, year, year + 1) if widen else (year,)


def _family_codes(profile: Profile) -> set[int]:
    """Soundex codes of the family names, current and former, and of each word of a double-barrelled one."""
    codes = {soundex(word) for name in (profile.family, *profile.former) for word in (name, *name.split()[1:])}
    codes.discard(0)
    return codes


class PersonIndex:
    """An in-memory person index: ``add``, ``remove`` and ``match`` records."""

    def __init__(self, records: Iterable[PersonRecord] = ()) -> None:
        self._ids: list[str | None] = []
        self._row_of: dict[str, int] = {}
        self._nhs = array("q")
        self._birth = array("i")
        self._family = array("i")
        self._given = array("i")
        self._given2 = array("i")
        self._postcode = array("q")
        self._flags = bytearray()
        self._extra: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}
        self._names: list[str] = [""]
        self._name_code: dict[str, int] = {"": 0}
        self._by_nhs: dict[int, int] = {}
        self._nhs_duplicates: dict[int, list[int]] = {}
        self._by_birth: dict[int, array[int]] = {}
        self._by_family_ym: dict[int, array[int]] = {}
        self._by_family_yd: dict[int, array[int]] = {}
        self._by_family_md: dict[int, array[int]] = {}
        self._by_family_estimated: dict[int, array[int]] = {}
        self._by_sector_year: dict[int, array[int]] = {}
        self._years: tuple[int, int] = (9999, 0)
        for record in records:
            self.add(record)

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._row_of

    def ids(self) -> Iterator[str]:
        """The ids of the people in the index."""
        return iter(self._row_of)

    def add(self, record: PersonRecord) -> None:
        """Add a person, replacing any earlier record with the same id."""
        if record.id in self._row_of:
            self.remove(record.id)
        profile = profile_of(record)
        row = len(self._ids)
        self._ids.append(record.id)
        self._row_of[record.id] = row
        self._nhs.append(profile.nhs)
        self._birth.append(profile.birth)
        self._family.append(self._code(profile.family))
        given = [self._code(name) for name in profile.given]
        self._given.append(given[0] if given else 0)
        self._given2.append(given[1] if len(given) > 1 else 0)
        self._postcode.append(profile.postcode)
        flags = (_VERIFIED if profile.nhs_verified else 0) | (_ESTIMATED if profile.estimated else 0)
        self._flags.append(flags | profile.gender << _GENDER_SHIFT)
        if len(given) > 2 or profile.preferred or profile.former:
            self._extra[row] = (
                tuple(given[2:]),
                tuple(self._code(name) for name in profile.preferred),
                tuple(self._code(name) for name in profile.former),
            )
        if profile.birth:
            year = profile.birth // 10000
            self._years = (min(self._years[0], year - 1), max(self._years[1], year + 1))
        self._index(row, profile)

    def remove(self, person_id: str) -> None:
        """Remove a person; unknown ids are ignored."""
        row = self._row_of.pop(person_id, None)
        if row is None:
            return
        profile = self._profile(row)
        if profile.nhs:
            others = self._nhs_duplicates.get(profile.nhs, [])
            if row in others:
                others.remove(row)
            elif others:
                self._by_nhs[profile.nhs] = others.pop(0)
            else:
                self._by_nhs.pop(profile.nhs, None)
            if not others:
                self._nhs_duplicates.pop(profile.nhs, None)
        for postings, key in self._keys(profile):
            rows = postings[key]
            rows.remove(row)
            if not rows:
                del postings[key]
        self._ids[row] = None
        self._extra.pop(row, None)

    def match(self, query: PersonRecord, limit: int = 5) -> list[Candidate]:
        """The best candidates for a person, strongest grade first; certainly-not candidates are left out."""
        profile = profile_of(query)
        found: list[Candidate] = []
        flags = self._flags
        for row in self._block(profile):
            person_id = self._ids[row]
            if person_id is None:
                continue
            if not could_be_possible(
                profile,
                self._nhs[row],
                self._birth[row],
                bool(flags[row] & _ESTIMATED),
                self._postcode[row],
                flags[row] >> _GENDER_SHIFT,
            ):
                continue
            scored = score(profile, self._profile(row))
            if scored.grade is not Grade.CERTAINLY_NOT:
                found.append(Candidate(person_id, scored.score, scored.grade, scored.features, scored.reasons))
        found.sort(key=lambda candidate: (-candidate.grade.rank, -candidate.score, candidate.id))
        return found[:limit]

    def _code(self, name: str) -> int:
        code = self._name_code.get(name)
        if code is None:
            code = self._name_code[name] = len(self._names)
            self._names.append(name)
        return code

    def _profile(self, row: int) -> Profile:
        names = self._names
        more, preferred, former = self._extra.get(row, _NO_EXTRA)
        given = tuple(names[code] for code in (self._given[row], self._given2[row], *more) if code)
        flags = self._flags[row]
        return Profile(
            nhs=self._nhs[row],
            nhs_verified=bool(flags & _VERIFIED),
            family=names[self._family[row]],
            former=tuple(names[code] for code in former),
            given=given,
            preferred=tuple(names[code] for code in preferred),
            birth=self._birth[row],
            estimated=bool(flags & _ESTIMATED),
            postcode=self._postcode[row],
            gender=flags >> _GENDER_SHIFT,
        )

    def _keys(self, profile: Profile) -> Iterator[tuple[dict[int, array[int]], int]]:
        """The blocking keys a stored person is filed under."""
        if not profile.birth:
            return
        year, month, day = profile.birth // 10000, profile.birth // 100 % 100, profile.birth % 100
        yield self._by_birth, profile.birth
        for code in _family_codes(profile):
            yield self._by_family_ym, code * 1_000_000 + year * 100 + month
            yield self._by_family_yd, code * 1_000_000 + year * 100 + day
            yield self._by_family_md, code * 10_000 + month * 100 + day
            if profile.estimated:
                for near in _years(profile, True):
                    yield self._by_family_estimated, code * 10_000 + near
        if profile.postcode:
            sector = profile.postcode // _SECTOR_DIVISOR
            for near in _years(profile, profile.estimated):
                yield self._by_sector_year, sector * 10000 + near

    def _index(self, row: int, profile: Profile) -> None:
        if profile.nhs:
            if profile.nhs in self._by_nhs:
                self._nhs_duplicates.setdefault(profile.nhs, []).append(row)
            else:
                self._by_nhs[profile.nhs] = row
        for postings, key in self._keys(profile):
            rows = postings.get(key)
            if rows is None:
                postings[key] = array("i", (row,))
            else:
                rows.append(row)

    def _block(self, profile: Profile) -> set[int]:
        """Rows that share at least one blocking key with the person asked about."""
        rows: set[int] = set()
        if profile.nhs in self._by_nhs:
            rows.add(self._by_nhs[profile.nhs])
            rows.update(self._nhs_duplicates.get(profile.nhs, ()))
        if profile.birth:
            rows.update(self._by_birth.get(profile.birth, ()))
            year, month, day = profile.birth // 10000, profile.birth // 100 % 100, profile.birth % 100
            # An estimated date may be wrong in any part within a year; otherwise the month may be the day.
            months = range(1, 13) if profile.estimated else (month, day) if day <= 12 else (month,)
            for code in _family_codes(profile):
                family = code * 1_000_000
                for near in _years(profile, profile.estimated):
                    for guess in months:
                        rows.update(self._by_family_ym.get(family + near * 100 + guess, ()))
                    rows.update(self._by_family_estimated.get(code * 10_000 + near, ()))
                rows.update(self._by_family_yd.get(family + year * 100 + day, ()))
                rows.update(self._by_family_md.get(code * 10_000 + month * 100 + day, ()))
        if profile.postcode:
            sector = profile.postcode // _SECTOR_DIVISOR
            years = _years(profile, profile.estimated) if profile.birth else range(self._years[0], self._years[1] + 1)
            for year in years:
                rows.update(self._by_sector_year.get(sector * 10000 + year, ()))
        return rows

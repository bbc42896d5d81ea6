"""A synthetic population of England for demos and benchmarks: households sharing a surname and postcode,
realistic given names by sex, twins, maiden names, nicknames in use, and NHS numbers in the 999 test range
with valid check digits (never issued to real patients). Deterministic by seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from mais_node.matching.nhs_number import nhs_number_check_digit
from mais_node.matching.nicknames import nicknames_of, read_data_lines
from mais_node.matching.record import Gender, PersonRecord

# The test range is 999 followed by six digits and a check digit: a million bodies, about 909,000 valid.
_MEMBER_BODIES = 950_000
_OUTSIDE_BODIES = 50_000
_NHS_STRIDE = 7919  # prime and coprime with both counts, so i -> i * stride mod count visits every body once
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_FIRST_YEAR, _LAST_YEAR = 1935, 2024


@dataclass(frozen=True, slots=True)
class Names:
    """The name and postcode lists the generator draws from (package data)."""

    female: tuple[str, ...]
    male: tuple[str, ...]
    surnames: tuple[str, ...]
    areas: tuple[tuple[str, int], ...]
    area_weights: tuple[int, ...]


@cache
def names() -> Names:
    """Load the lists once, without repeats."""
    areas = [line.split() for line in read_data_lines("postcode_areas.txt")]
    return Names(
        female=tuple(dict.fromkeys(read_data_lines("given_female.txt"))),
        male=tuple(dict.fromkeys(read_data_lines("given_male.txt"))),
        surnames=tuple(dict.fromkeys(read_data_lines("surnames.txt"))),
        areas=tuple((area, int(districts)) for area, districts, _ in areas),
        area_weights=tuple(int(weight) for _, _, weight in areas),
    )


def make_rng(seed: int) -> random.Random:
    """A seeded generator; synthetic data needs reproducibility, not secrecy."""
    return random.Random(seed)  # noqa: S311


def display(name: str) -> str:
    """A stored lower-case name as it would be written ("smith-jones" -> "Smith-Jones", "obrien" -> "O'Brien")."""
    titled = "-".join(part.capitalize() for part in name.split("-"))
    if titled.startswith(("Obrien", "Oconnor", "Odonnell")):
        return f"O'{titled[1:].capitalize()}"
    if titled.startswith("Mc") and len(titled) > 2:
        return "Mc" + titled[2:].capitalize()
    return titled


def synthetic_nhs_number(index: int, *, outside: bool = False) -> str | None:
    """The ``index``-th test-range NHS number (999...), or None when its nine digits have no check digit.

    Members of a generated population use the first 950,000 bodies; ``outside`` gives numbers from the last
    50,000, which no generated member has, for people who must not be found.
    """
    body = index * _NHS_STRIDE % _OUTSIDE_BODIES + _MEMBER_BODIES if outside else index * _NHS_STRIDE % _MEMBER_BODIES
    first_nine = f"999{body:06d}"
    check = nhs_number_check_digit(first_nine)
    if check is None:
        return None
    return first_nine + str(check)


def random_postcode(rng: random.Random) -> str:
    """A plausible English or Welsh postcode: a real area, a district in its range, a well-formed inward code."""
    data = names()
    area, districts = rng.choices(data.areas, weights=data.area_weights)[0]
    inward = f"{rng.randint(0, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    return f"{area}{rng.randint(1, districts)} {inward}"


def random_birth_date(rng: random.Random, first_year: int, last_year: int) -> date:
    """A uniformly drawn date between 1 January ``first_year`` and 31 December ``last_year``."""
    start = date(first_year, 1, 1)
    return start + timedelta(days=rng.randrange((date(last_year, 12, 31) - start).days + 1))


def random_given(rng: random.Random, gender: Gender) -> str:
    """A given name for the sex the gender suggests (either list when unknown)."""
    data = names()
    pool = data.female if gender is Gender.FEMALE else data.male if gender is Gender.MALE else data.male + data.female
    return display(rng.choice(pool))


def _gender(rng: random.Random) -> Gender:
    roll = rng.random()
    return Gender.FEMALE if roll < 0.497 else Gender.MALE if roll < 0.994 else Gender.UNKNOWN


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = make_rng(seed)
        self.nhs_start = self.nhs_index = seed * 1_000_003 % _MEMBER_BODIES
        self.count = 0

    def next_nhs(self) -> str | None:
        """The next unused member number; None once the test range is used up (about 860,000 numbers)."""
        while self.nhs_index - self.nhs_start < _MEMBER_BODIES:
            number = synthetic_nhs_number(self.nhs_index)
            self.nhs_index += 1
            if number is not None:
                return number
        return None

    def person(self, surname: str, postcode: str, birth: date, gender: Gender, former: tuple[str, ...]) -> PersonRecord:
        rng = self.rng
        given = [random_given(rng, gender)]
        if rng.random() < 0.55:
            given.append(random_given(rng, gender))
        nicks = nicknames_of(given[0].lower())
        preferred = (display(rng.choice(nicks)),) if nicks and rng.random() < 0.08 else ()
        nhs_number = self.next_nhs() if rng.random() < 0.85 else None
        self.count += 1
        return PersonRecord(
            id=f"P{self.count:07d}",
            family=display(surname),
            given=tuple(given),
            preferred=preferred,
            former_families=former,
            nhs_number=nhs_number,
            nhs_verified=nhs_number is not None and rng.random() < 0.9,
            birth_date=birth,
            birth_date_estimated=rng.random() < 0.01,
            postcode=postcode,
            gender=gender,
        )

    def household(self) -> Iterator[PersonRecord]:
        rng = self.rng
        data = names()
        surname = rng.choice(data.surnames)
        postcode = random_postcode(rng)
        adult_birth = random_birth_date(rng, _FIRST_YEAR, 2002)
        first = _gender(rng)
        yield self.person(surname, postcode, adult_birth, first, ())
        if rng.random() < 0.5:
            partner_birth = adult_birth + timedelta(days=rng.randint(-2500, 2500))
            partner = Gender.MALE if first is Gender.FEMALE else Gender.FEMALE
            maiden = (display(rng.choice(data.surnames)),) if partner is Gender.FEMALE and rng.random() < 0.4 else ()
            yield self.person(surname, postcode, partner_birth, partner, maiden)
        children = rng.choices((0, 1, 2, 3), weights=(45, 25, 20, 10))[0]
        earliest = adult_birth.year + 18
        for _ in range(children):
            if earliest > _LAST_YEAR:
                break
            birth = random_birth_date(rng, earliest, min(_LAST_YEAR, adult_birth.year + 42))
            yield self.person(surname, postcode, birth, _gender(rng), ())
            if rng.random() < 0.03:
                yield self.person(surname, postcode, birth, _gender(rng), ())


def iter_population(n: int, seed: int = 0) -> Iterator[PersonRecord]:
    """``n`` synthetic people, household by household, the same for the same seed."""
    generator = _Generator(seed)
    produced = 0
    while produced < n:
        for person in generator.household():
            if produced == n:
                return
            produced += 1
            yield person


def generate_population(n: int, seed: int = 0) -> list[PersonRecord]:
    """``n`` synthetic people as a list."""
    return list(iter_population(n, seed))

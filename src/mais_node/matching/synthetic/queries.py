"""Labelled enquiries with realistic errors, drawn from a synthetic population (issue 5 "Performance and
quality"): typos, day/month transposed and estimated dates, nicknames, changed surnames, swapped name order,
house moves, missing NHS numbers, and people who are not in the index: twins of someone who is, and strangers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from rapidfuzz.distance import OSA

from mais_node.matching.nicknames import are_nicknames, nicknames_of
from mais_node.matching.record import Gender, PersonRecord
from mais_node.matching.synthetic.population import (
    display,
    make_rng,
    names,
    random_birth_date,
    random_given,
    random_postcode,
    synthetic_nhs_number,
)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_ACCENTED = str.maketrans({"e": "é", "o": "ö", "a": "á", "i": "ï"})


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """An enquiry, the id of the person it is really about (None: not in the index), and the error made."""

    query: PersonRecord
    expected_id: str | None
    kind: str


def typo(rng: random.Random, word: str) -> str:
    """One keying error: a letter substituted, dropped, doubled or two letters swapped (never the first)."""
    if len(word) < 3:
        return word + rng.choice(_ALPHABET)
    at = rng.randrange(1, len(word) - 1)
    action = rng.randrange(4)
    if action == 0:
        return word[:at] + rng.choice(_ALPHABET) + word[at + 1 :]
    if action == 1:
        return word[:at] + word[at + 1 :]
    if action == 2:
        return word[:at] + word[at] + word[at:]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def _reformat(rng: random.Random, name: str) -> str:
    options = (str.upper, str.lower, lambda text: f"  {text} ", lambda text: text.translate(_ACCENTED))
    return rng.choice(options)(name)


def _transposable(person: PersonRecord) -> bool:
    birth = person.birth_date
    return birth is not None and birth.day <= 12 and birth.day != birth.month


def _twin_name(rng: random.Random, person: PersonRecord, gender: Gender) -> str:
    own = [name.lower() for name in person.given + person.preferred]
    while True:
        name = random_given(rng, gender)
        low = name.lower()
        if all(OSA.distance(low, other) >= 2 and not are_nicknames(low, other) for other in own):
            return name


Mutation = Callable[[random.Random, PersonRecord], PersonRecord | None]


def _exact(rng: random.Random, p: PersonRecord) -> PersonRecord:
    return p


def _typo_family(rng: random.Random, p: PersonRecord) -> PersonRecord:
    return replace(p, family=display(typo(rng, p.family.lower())))


def _typo_given(rng: random.Random, p: PersonRecord) -> PersonRecord:
    return replace(p, given=(display(typo(rng, p.given[0].lower())), *p.given[1:]))


def _nickname(rng: random.Random, p: PersonRecord) -> PersonRecord | None:
    nicks = nicknames_of(p.given[0].lower())
    return replace(p, given=(display(rng.choice(nicks)),), preferred=()) if nicks else None


def _transposed(rng: random.Random, p: PersonRecord) -> PersonRecord | None:
    birth = p.birth_date
    if birth is None or not _transposable(p):
        return None
    return replace(p, birth_date=date(birth.year, birth.day, birth.month))


def _birth_typo(rng: random.Random, p: PersonRecord) -> PersonRecord | None:
    birth = p.birth_date
    if birth is None:
        return None
    day = birth.day + rng.choice((-2, -1, 1, 2)) if 3 <= birth.day <= 26 else 15
    return replace(p, birth_date=birth.replace(day=day))


def _estimated(rng: random.Random, p: PersonRecord) -> PersonRecord | None:
    birth = p.birth_date
    if birth is None:
        return None
    return replace(p, birth_date=birth + timedelta(days=rng.randint(-330, 330)), birth_date_estimated=True)


def _changed_surname(rng: random.Random, p: PersonRecord) -> PersonRecord:
    new = display(rng.choice(names().surnames))
    former = (p.family,) if rng.random() < 0.5 else ()
    return replace(p, family=new, former_families=former)


def _swapped(rng: random.Random, p: PersonRecord) -> PersonRecord:
    return replace(p, family=p.given[0], given=(p.family,), preferred=())


def _moved(rng: random.Random, p: PersonRecord) -> PersonRecord:
    return replace(p, postcode=random_postcode(rng))


def _formatting(rng: random.Random, p: PersonRecord) -> PersonRecord:
    postcode = p.postcode.replace(" ", "").lower() if p.postcode else None
    return replace(
        p, family=_reformat(rng, p.family), given=tuple(_reformat(rng, g) for g in p.given), postcode=postcode
    )


def _no_postcode(rng: random.Random, p: PersonRecord) -> PersonRecord:
    return replace(p, postcode=None)


TRUE_MATCH_ERRORS: dict[str, tuple[int, Mutation]] = {
    "exact": (10, _exact),
    "typo-family": (10, _typo_family),
    "typo-given": (10, _typo_given),
    "nickname": (8, _nickname),
    "transposed-date": (8, _transposed),
    "date-typo": (6, _birth_typo),
    "estimated-date": (5, _estimated),
    "changed-surname": (8, _changed_surname),
    "name-order-swapped": (4, _swapped),
    "moved": (8, _moved),
    "formatting": (6, _formatting),
    "no-postcode": (3, _no_postcode),
}
SECOND_ERRORS: tuple[Mutation, ...] = (_moved, _formatting, _no_postcode, _typo_family, _typo_given)


def _true_match(rng: random.Random, population: Sequence[PersonRecord], qid: str) -> LabelledQuery:
    kinds = list(TRUE_MATCH_ERRORS)
    kind = rng.choices(kinds, weights=[TRUE_MATCH_ERRORS[name][0] for name in kinds])[0]
    while True:
        person = rng.choice(population)
        query = TRUE_MATCH_ERRORS[kind][1](rng, person)
        if query is not None:
            break
    if rng.random() < 0.2:
        query = rng.choice(SECOND_ERRORS)(rng, query) or query
    if rng.random() < 0.6:
        query = replace(query, nhs_number=None, nhs_verified=False)
    return LabelledQuery(replace(query, id=qid), person.id, kind)


def _twin(rng: random.Random, population: Sequence[PersonRecord], qid: str, serial: int) -> LabelledQuery:
    person = rng.choice(population)
    gender = person.gender if rng.random() < 0.6 else rng.choice((Gender.MALE, Gender.FEMALE))
    twin = PersonRecord(
        id=qid,
        family=person.family,
        given=(_twin_name(rng, person, gender),),
        nhs_number=synthetic_nhs_number(serial, outside=True) if rng.random() < 0.5 else None,
        birth_date=person.birth_date,
        postcode=person.postcode,
        gender=gender,
    )
    return LabelledQuery(twin, None, "twin-not-in-index")


def _stranger(rng: random.Random, qid: str, serial: int) -> LabelledQuery:
    gender = rng.choice((Gender.MALE, Gender.FEMALE))
    stranger = PersonRecord(
        id=qid,
        family=display(rng.choice(names().surnames)),
        given=(random_given(rng, gender),),
        nhs_number=synthetic_nhs_number(serial, outside=True) if rng.random() < 0.5 else None,
        birth_date=random_birth_date(rng, 1935, 2024),
        postcode=random_postcode(rng),
        gender=gender,
    )
    return LabelledQuery(stranger, None, "stranger")


def noisy_queries(population: Sequence[PersonRecord], n: int, seed: int = 0) -> list[LabelledQuery]:
    """``n`` labelled enquiries about a population: 80% about members (with errors), 10% twins, 10% strangers."""
    rng = make_rng(seed)
    queries: list[LabelledQuery] = []
    for serial in range(n):
        qid = f"Q{serial:07d}"
        roll = rng.random()
        if roll < 0.8:
            queries.append(_true_match(rng, population, qid))
        elif roll < 0.9:
            queries.append(_twin(rng, population, qid, serial))
        else:
            queries.append(_stranger(rng, qid, serial))
    return queries

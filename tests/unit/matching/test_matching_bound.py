"""The index skips a candidate only when ``could_be_possible`` proves it certainly-not, whatever its names."""

from __future__ import annotations

import random
from dataclasses import replace

from mais_node.matching import Grade, PersonIndex
from mais_node.matching.blocking import lookup
from mais_node.matching.grades import Candidate
from mais_node.matching.profile import Profile, profile_of
from mais_node.matching.rows import profile_of_row
from mais_node.matching.scoring import could_be_possible, score
from mais_node.matching.synthetic import generate_population, noisy_queries

POPULATION = generate_population(3000, seed=41)
QUERIES = noisy_queries(POPULATION, 600, seed=42)


def _bound(query: Profile, candidate: Profile) -> bool:
    return could_be_possible(
        query, candidate.nhs, candidate.birth, candidate.estimated, candidate.postcode, candidate.gender
    )


def test_a_candidate_the_bound_rules_out_always_scores_certainly_not() -> None:
    chance = random.Random(5)
    profiles = [profile_of(p) for p in POPULATION]
    ruled_out = checked = 0
    for labelled in QUERIES:
        query = profile_of(labelled.query)
        for candidate in chance.sample(profiles, 60):
            checked += 1
            if not _bound(query, candidate):
                ruled_out += 1
                assert score(query, candidate).grade is Grade.CERTAINLY_NOT
    assert checked == 600 * 60
    assert ruled_out > checked // 10  # the bound does rule candidates out, so the check above is exercised


def test_a_differing_nhs_number_with_everything_else_alike_is_not_ruled_out() -> None:
    person = profile_of(POPULATION[0])
    assert person.nhs
    other = person._replace(nhs=person.nhs + 1, nhs_verified=False)
    assert _bound(person, other)  # the total can reach exactly 0.5: possible
    assert score(person, other).grade is Grade.POSSIBLE
    assert not _bound(person, other._replace(gender=3 - person.gender if person.gender else 1))


def test_the_index_answers_as_if_it_scored_every_candidate_of_the_block() -> None:
    index = PersonIndex(POPULATION)
    for labelled in QUERIES:
        query = profile_of(labelled.query)
        every: list[Candidate] = []
        for row in index.rows.block(lookup(query)):
            person_id = row.id
            assert person_id is not None
            scored = score(query, profile_of_row(row))
            if scored.grade is not Grade.CERTAINLY_NOT:
                every.append(Candidate(person_id, scored.score, scored.grade, scored.features, scored.reasons))
        every.sort(key=lambda c: (-c.grade.rank, -c.score, c.id))
        assert index.match(labelled.query) == every[:5]


def test_a_query_with_an_nhs_number_skips_the_strangers_born_the_same_day() -> None:
    me = POPULATION[0]
    strangers = [  # born the same day with the same given name: in the same block
        replace(p, birth_date=me.birth_date, given=me.given)
        for p in POPULATION[1:]
        if p.nhs_number and p.postcode and p.postcode.split()[0] != (me.postcode or "").split()[0]
    ][:40]
    index = PersonIndex([me, *strangers])
    query = profile_of(me)
    rows = index.rows.block(lookup(query))
    kept = [
        r.id
        for r in rows
        if could_be_possible(
            query,
            r.nhs,
            r.birth,
            bool(r.flags & 2),
            r.postcode,
            r.flags >> 2,
        )
    ]
    assert len(rows) == 41
    assert kept == [me.id]


def test_the_bound_never_skips_a_candidate_the_verified_number_floor_lifts() -> None:
    """Issue 13 §1: enquiries with a held verified NHS number and date of birth but other names and postcode."""
    held = [replace(p, nhs_verified=True) for p in POPULATION if p.nhs_number and p.birth_date][:200]
    index = PersonIndex(held)
    lifted = 0
    for person in held:
        others = {"given": ("Zebedee",), "preferred": (), "family": "Quixote", "former_families": ()}
        query = replace(person, id="Q", postcode="ZE3 9XP", nhs_verified=False, **others)  # type: ignore[arg-type]
        profile = profile_of(query)
        every = []
        for row in index.rows.block(lookup(profile)):
            person_id = row.id
            assert person_id is not None
            assert (
                could_be_possible(
                    profile,
                    row.nhs,
                    row.birth,
                    bool(row.flags & 2),
                    row.postcode,
                    row.flags >> 2,
                )
                or score(profile, profile_of_row(row)).grade is Grade.CERTAINLY_NOT
            )
            scored = score(profile, profile_of_row(row))
            if scored.grade is not Grade.CERTAINLY_NOT:
                every.append(Candidate(person_id, scored.score, scored.grade, scored.features, scored.reasons))
        every.sort(key=lambda c: (-c.grade.rank, -c.score, c.id))
        found = index.match(query)
        assert found == every[:5]
        grades = {c.id: c.grade for c in found}
        assert grades[person.id] is Grade.PROBABLE
        lifted += "verified NHS number and date of birth (or name) agree: at least probable" in found[0].reasons
    assert lifted > 150  # the floor, not the score, lifted most of them: the case above is exercised

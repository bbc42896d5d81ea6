"""The person index: add, remove, match, and the summary the enquiry turns into a decision."""

from dataclasses import replace
from datetime import date

from mais_node.matching import Gender, Grade, PersonIndex, PersonRecord, match_grade_summary

AMY = PersonRecord(
    id="amy",
    family="Collins",
    given=("Amy",),
    nhs_number="9434765919",
    nhs_verified=True,
    birth_date=date(2015, 6, 2),
    postcode="B49 2RN",
    gender=Gender.FEMALE,
)
TWIN = replace(AMY, id="zoe", given=("Zoe",), nhs_number="4010232137")
FATHER = replace(AMY, id="dad", given=("Paul",), nhs_number=None, birth_date=date(1980, 1, 1), gender=Gender.MALE)


def index_of(*records: PersonRecord) -> PersonIndex:
    return PersonIndex(records)


def test_match_finds_the_person_by_nhs_number_and_birth_date() -> None:
    candidates = index_of(AMY, TWIN, FATHER).match(replace(AMY, id="q", nhs_verified=False))
    assert [(c.id, c.grade) for c in candidates][:1] == [("amy", Grade.CERTAIN)]
    summary = match_grade_summary(candidates)
    assert summary.best is not None
    assert summary.best.id == "amy"
    assert not summary.ambiguous


def test_a_twin_is_no_more_than_possible_for_the_other() -> None:
    candidates = index_of(AMY, TWIN).match(replace(AMY, id="q", nhs_number=None))
    grades = {c.id: c.grade for c in candidates}
    assert grades == {"amy": Grade.PROBABLE, "zoe": Grade.POSSIBLE}


def test_match_by_nhs_number_alone_finds_a_record_without_birth_date() -> None:
    no_birth = replace(AMY, birth_date=None)
    candidates = index_of(no_birth).match(replace(AMY, id="q", birth_date=None))
    assert candidates[0].id == "amy"


def test_transposed_date_and_estimated_date_are_found_through_blocking() -> None:
    index = index_of(AMY, TWIN, FATHER)
    transposed = replace(AMY, id="q", nhs_number=None, birth_date=date(2015, 2, 6))
    assert index.match(transposed)[0].id == "amy"
    estimated = replace(
        AMY, id="q", nhs_number=None, family="Colins", birth_date=date(2014, 12, 1), birth_date_estimated=True
    )
    assert index.match(estimated)[0].id == "amy"


def test_no_birth_date_and_no_nhs_number_blocks_on_the_postcode_sector() -> None:
    query = replace(AMY, id="q", nhs_number=None, birth_date=None)
    assert [c.id for c in index_of(AMY, FATHER).match(query)][:1] == ["amy"]


def test_no_one_alike_gives_no_candidates() -> None:
    stranger = PersonRecord(id="q", family="Nowak", given=("Ewan",), birth_date=date(1950, 1, 1), postcode="LS1 1AA")
    assert index_of(AMY, TWIN).match(stranger) == []
    summary = match_grade_summary([])
    assert (summary.grade, summary.best, summary.ambiguous) == (Grade.CERTAINLY_NOT, None, False)


def test_two_probable_candidates_are_ambiguous() -> None:
    duplicate = replace(AMY, id="amy-again", nhs_number=None)
    candidates = index_of(AMY, duplicate).match(replace(AMY, id="q", nhs_number=None))
    assert [c.grade for c in candidates] == [Grade.PROBABLE, Grade.PROBABLE]
    assert match_grade_summary(candidates).ambiguous


def test_remove_takes_a_person_out_of_every_block() -> None:
    index = index_of(AMY, TWIN, FATHER)
    index.remove("amy")
    index.remove("nobody")
    assert "amy" not in index
    assert len(index) == 2
    assert all(c.id != "amy" for c in index.match(replace(AMY, id="q")))
    assert sorted(index.ids()) == ["dad", "zoe"]


def test_adding_the_same_id_replaces_the_record() -> None:
    index = index_of(AMY)
    index.add(replace(AMY, family="Morgan", former_families=("Collins",), postcode="LS1 1AA"))
    assert len(index) == 1
    candidates = index.match(replace(AMY, id="q", nhs_number=None, postcode=None))
    assert [c.id for c in candidates] == ["amy"]
    assert "former family name" in candidates[0].reasons


def test_records_sharing_an_nhs_number_are_all_found_and_removed_cleanly() -> None:
    copy = replace(AMY, id="amy-copy")
    third = replace(AMY, id="amy-third")
    index = index_of(AMY, copy, third)
    query = replace(AMY, id="q", birth_date=None, postcode=None)
    assert {c.id for c in index.match(query)} == {"amy", "amy-copy", "amy-third"}
    index.remove("amy-copy")
    index.remove("amy")
    assert [c.id for c in index.match(query)] == ["amy-third"]
    index.remove("amy-third")
    assert index.match(query) == []


def test_limit_caps_the_candidates() -> None:
    family = [replace(AMY, id=f"dup{n}", nhs_number=None) for n in range(8)]
    assert len(index_of(*family).match(replace(AMY, id="q"), limit=3)) == 3

"""Scoring and grading one candidate against the person asked about."""

from dataclasses import replace
from datetime import date

import pytest

from mais_node.matching import Gender, Grade, PersonRecord, compare
from mais_node.matching.scoring import PROBABLE, WEIGHTS

MARGARET = PersonRecord(
    id="P1",
    family="Evans",
    given=("Margaret", "Rose"),
    nhs_number="9434765919",
    nhs_verified=True,
    birth_date=date(1961, 4, 3),
    postcode="CF10 1AA",
    gender=Gender.FEMALE,
)


def query(**changes: object) -> PersonRecord:
    """The same person as asked about by a partner, without the NHS number unless a test adds it."""
    fields: dict[str, object] = {"id": "Q", "nhs_verified": False, "nhs_number": None, **changes}
    return replace(MARGARET, **fields)  # type: ignore[arg-type]


def test_weights_are_explicit_and_sum_to_one() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_verified_nhs_number_and_birth_date_agreeing_is_certain() -> None:
    candidate = compare(query(nhs_number="9434765919"), MARGARET)
    assert candidate.grade is Grade.CERTAIN
    assert "verified NHS number and date of birth agree" in candidate.reasons


def test_every_field_agreeing_without_nhs_number_is_probable_not_certain() -> None:
    candidate = compare(query(), MARGARET)
    assert candidate.grade is Grade.PROBABLE
    assert candidate.score == pytest.approx(1.0)


def test_nhs_number_without_birth_date_agreement_is_not_certain() -> None:
    assert compare(query(nhs_number="9434765919", birth_date=date(1961, 4, 4)), MARGARET).grade is Grade.PROBABLE
    assert compare(query(nhs_number="9434765919", birth_date=None), MARGARET).grade is Grade.PROBABLE


def test_nhs_number_the_node_has_not_verified_is_not_certain() -> None:
    unverified = replace(MARGARET, nhs_verified=False)
    assert compare(query(nhs_number="9434765919"), unverified).grade is Grade.PROBABLE


def test_estimated_birth_date_is_never_certain() -> None:
    candidate = compare(query(nhs_number="9434765919", birth_date_estimated=True), MARGARET)
    assert candidate.grade is Grade.PROBABLE


def test_disagreeing_verified_nhs_numbers_are_certainly_not() -> None:
    candidate = compare(query(nhs_number="9990000018", nhs_verified=True), MARGARET)
    assert candidate.grade is Grade.CERTAINLY_NOT
    assert "verified NHS numbers differ" in candidate.reasons


def test_disagreeing_unverified_nhs_number_is_at_most_possible() -> None:
    assert compare(query(nhs_number="9990000018"), MARGARET).grade is Grade.POSSIBLE


@pytest.mark.parametrize("nickname", ["Peggy", "Maggie", "Meg"])
def test_nickname_matches_probable(nickname: str) -> None:
    candidate = compare(query(given=(nickname,)), MARGARET)
    assert candidate.grade is Grade.PROBABLE
    assert "given name nickname" in candidate.reasons


def test_preferred_name_on_either_side_counts() -> None:
    known_as = replace(MARGARET, given=("Rose",), preferred=("Daisy",))
    assert compare(query(given=("Daisy",)), known_as).grade is Grade.PROBABLE


def test_typos_in_names_still_match() -> None:
    assert compare(query(family="Evnas", given=("Margret",)), MARGARET).grade is Grade.PROBABLE


def test_formatting_differences_score_as_exact() -> None:
    assert compare(query(family="  EVANS ", given=("mārgaret",), postcode="cf101aa"), MARGARET).score == 1.0


def test_day_and_month_transposed_is_probable() -> None:
    candidate = compare(query(birth_date=date(1961, 3, 4)), MARGARET)
    assert candidate.grade is Grade.PROBABLE
    assert candidate.features["birth_date"] == pytest.approx(0.8)
    assert "date of birth day and month transposed" in candidate.reasons


def test_estimated_birth_date_within_a_year_is_near() -> None:
    near = compare(query(birth_date=date(1960, 9, 1), birth_date_estimated=True), MARGARET)
    assert near.features["birth_date"] == pytest.approx(0.8)
    assert near.grade is Grade.PROBABLE
    exact_but_wrong = compare(query(birth_date=date(1960, 9, 1)), MARGARET)
    assert exact_but_wrong.features["birth_date"] == 0.0
    assert exact_but_wrong.grade is Grade.POSSIBLE


def test_postcode_scores_full_then_sector_then_district() -> None:
    assert compare(query(postcode="CF10 1AA"), MARGARET).features["postcode"] == 1.0
    assert compare(query(postcode="CF10 1ZZ"), MARGARET).features["postcode"] == pytest.approx(0.6)
    assert compare(query(postcode="CF10 2AA"), MARGARET).features["postcode"] == pytest.approx(0.3)
    assert compare(query(postcode="LS1 1AA"), MARGARET).features["postcode"] == 0.0
    assert compare(query(postcode=None), MARGARET).features["postcode"] == 0.5


def test_twin_with_a_different_given_name_is_not_probable() -> None:
    twin = query(given=("Catherine",), nhs_number="9990000018")
    assert not compare(twin, MARGARET).grade.at_least(Grade.PROBABLE)
    twin_without_nhs = compare(query(given=("Catherine",)), MARGARET)
    assert twin_without_nhs.grade is Grade.POSSIBLE
    assert "given names disagree: at most possible" in twin_without_nhs.reasons


def test_twin_with_the_siblings_nhs_number_is_not_certain() -> None:
    # Issue 13 §1: a verified NHS number and date of birth that agree are referred (probable), never "not known";
    # without verification on either side the twin rule still caps the grade at possible.
    verified = compare(query(given=("Catherine",), nhs_number="9434765919"), MARGARET)
    assert verified.grade is Grade.PROBABLE
    assert "verified NHS number and date of birth (or name) agree: at least probable" in verified.reasons
    unverified = replace(MARGARET, nhs_verified=False)
    assert compare(query(given=("Catherine",), nhs_number="9434765919"), unverified).grade is Grade.POSSIBLE


def test_changed_surname_matches_through_former_names_on_either_side() -> None:
    married = query(family="Morgan", former_families=("Evans",))
    assert compare(married, MARGARET).grade is Grade.PROBABLE
    assert "former family name" in compare(married, MARGARET).reasons
    index_knows_maiden = replace(MARGARET, family="Morgan", former_families=("Evans",))
    assert compare(query(), index_knows_maiden).grade is Grade.PROBABLE


def test_changed_surname_at_the_same_address_is_probable_but_weaker() -> None:
    candidate = compare(query(family="Morgan"), MARGARET)
    assert candidate.features["family"] == 0.0
    assert candidate.score == pytest.approx(PROBABLE)


def test_swapped_given_and_family_names_match() -> None:
    candidate = compare(query(family="Margaret", given=("Evans",)), MARGARET)
    assert candidate.grade is Grade.PROBABLE
    assert "name order swapped" in candidate.reasons


def test_double_barrelled_family_name_shares_a_word() -> None:
    hyphenated = replace(MARGARET, family="Evans-Pritchard")
    assert compare(query(), hyphenated).features["family"] == pytest.approx(0.9)


def test_a_different_person_sharing_only_given_name_and_birth_date_is_not_probable() -> None:
    stranger = query(family="Whitehouse", postcode="LS1 1AA")
    assert compare(stranger, MARGARET).grade is Grade.POSSIBLE


def test_nothing_in_common_is_certainly_not() -> None:
    other = query(
        family="Okafor", given=("Emeka",), birth_date=date(2001, 9, 30), postcode="LS1 1AA", gender=Gender.MALE
    )
    assert compare(other, MARGARET).grade is Grade.CERTAINLY_NOT


def test_initials_agree_weakly() -> None:
    assert compare(query(given=("M",)), MARGARET).features["given"] == pytest.approx(0.7)
    assert compare(query(given=("K",)), MARGARET).grade is Grade.POSSIBLE


def test_short_names_differing_by_a_substituted_letter_disagree() -> None:
    tom = replace(MARGARET, given=("Tom",), gender=Gender.MALE)
    assert compare(query(given=("Tim",), gender=Gender.MALE), tom).grade is Grade.POSSIBLE
    assert compare(query(given=("Tomm",), gender=Gender.MALE), tom).grade is Grade.PROBABLE


def test_a_verified_nhs_number_with_the_whole_name_agreeing_is_referred_whatever_the_birth_date() -> None:
    # Issue 13 §2: the number and the name point at one person; a wrong date of birth is for a reviewer to see.
    wrong_date = compare(query(nhs_number="9434765919", birth_date=date(1971, 9, 30)), MARGARET)
    assert wrong_date.grade is Grade.PROBABLE
    sibling_number = compare(query(nhs_number="9434765919", birth_date=date(1971, 9, 30), given=("Ann",)), MARGARET)
    assert sibling_number.grade is Grade.POSSIBLE

"""The synthetic population and labelled enquiries, and matching quality on them."""

from collections import Counter

import pytest

from mais_node.matching import Grade, PersonIndex, from_fhir_patient, nhs_number_valid
from mais_node.matching.quality import evaluate
from mais_node.matching.synthetic import generate_population, noisy_queries, synthetic_nhs_number, to_fhir_patient


@pytest.fixture(scope="module")
def population() -> list:  # type: ignore[type-arg]
    return generate_population(2000, seed=7)


def test_generation_is_deterministic_by_seed(population: list) -> None:  # type: ignore[type-arg]
    assert generate_population(2000, seed=7) == population
    assert generate_population(50, seed=8) != population[:50]
    assert noisy_queries(population, 50, seed=3) == noisy_queries(population, 50, seed=3)


def test_people_have_unique_ids_and_valid_test_range_nhs_numbers(population: list) -> None:  # type: ignore[type-arg]
    assert len({person.id for person in population}) == 2000
    numbers = [person.nhs_number for person in population if person.nhs_number]
    assert len(numbers) > 1500
    assert len(set(numbers)) == len(numbers)
    assert all(number.startswith("999") and nhs_number_valid(number) for number in numbers)


def test_numbers_for_outsiders_are_never_members() -> None:
    members = {synthetic_nhs_number(n) for n in range(20000)}
    outsiders = {synthetic_nhs_number(n, outside=True) for n in range(20000)}
    assert not (members - {None}) & (outsiders - {None})


def test_population_looks_like_households(population: list) -> None:  # type: ignore[type-arg]
    by_postcode = Counter(person.postcode for person in population)
    assert max(by_postcode.values()) >= 3
    assert any(person.former_families for person in population)
    assert any(person.preferred for person in population)


def test_people_survive_the_fhir_round_trip(population: list) -> None:  # type: ignore[type-arg]
    assert all(from_fhir_patient(to_fhir_patient(person)) == person for person in population[:200])


def test_queries_cover_every_kind_of_error(population: list) -> None:  # type: ignore[type-arg]
    kinds = Counter(labelled.kind for labelled in noisy_queries(population, 500, seed=11))
    assert set(kinds) >= {
        "exact",
        "typo-family",
        "typo-given",
        "nickname",
        "transposed-date",
        "estimated-date",
        "changed-surname",
        "name-order-swapped",
        "twin-not-in-index",
        "stranger",
    }


def test_no_false_certain_and_high_recall_on_a_labelled_set(population: list) -> None:  # type: ignore[type-arg]
    report = evaluate(PersonIndex(population), noisy_queries(population, 500, seed=11))
    assert report.queries == 500
    assert report.false_certain == 0
    assert report.probable_or_better >= 0.95
    assert report.precision(Grade.CERTAIN) == 1.0
    assert report.recall(Grade.CERTAIN) > 0.1


def test_generated_patients_are_valid_fhir(population: list) -> None:  # type: ignore[type-arg]
    from fhir.resources.R4B.patient import Patient

    for person in population[:50]:
        assert Patient.model_validate(to_fhir_patient(person)).id == person.id

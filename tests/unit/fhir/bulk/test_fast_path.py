"""The fast path for the common Patient shape gives the full check's verdict: over the synthetic population (as
``bench/seed.py`` and ``matching/synthetic`` write it) and over mutations of it, whenever the fast path says a row is
valid the full check (R4 structure, required bindings, the person profile) finds nothing, and the common rows do
take the fast path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mais_node.fhir.bulk import Importer
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic import iter_population
from tests.builders import NHS, patient

ACCURACY = "https://mais.example.org/fhir/StructureDefinition/mais-birth-date-accuracy"
VERIFICATION = "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
VERIFIED = {
    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "valueCodeableConcept": {"coding": [{"system": VERIFICATION, "code": "01"}]},
}  # fmt: skip


def corpus() -> list[dict[str, Any]]:
    people = [to_fhir_patient(r) for r in iter_population(600, seed=3)]
    for person in people[::2]:
        for identifier in person.get("identifier", []):
            identifier["extension"] = [VERIFIED]
    return [*people, patient(), patient(id="p1"), patient(identifier=None)]


Mutation = Callable[[dict[str, Any]], None]
MUTATIONS: dict[str, Mutation] = {
    "gender": lambda p: p.update(gender="robot"),
    "impossible-date": lambda p: p.update(birthDate="1990-02-31"),
    "partial-date": lambda p: p.update(birthDate="1990-02"),
    "date-time": lambda p: p.update(birthDate="1990-02-01T10:00:00Z"),
    "spaced-nhs": lambda p: p.update(identifier=[{"system": NHS, "value": "943 476 5919"}]),
    "bad-check-digit": lambda p: p.update(identifier=[{"system": NHS, "value": "9434765918"}]),
    "two-nhs": lambda p: p.update(identifier=[{"system": NHS, "value": "9434765919"}] * 2),
    "other-identifier": lambda p: p.update(identifier=[{"system": "https://example.org/id", "value": "1"}]),
    "no-minimum": lambda p: (p.pop("identifier", None), p.update(name=[{"family": "Smith"}])),
    "empty-given": lambda p: p.update(name=[{"family": "Smith", "given": [""]}]),
    "given-not-a-list": lambda p: p.update(name=[{"family": "Smith", "given": "John"}]),
    "padded-family": lambda p: p.update(name=[{"family": " Smith", "given": ["John"]}]),
    "name-use": lambda p: p.update(name=[{"use": "nick", "family": "Smith", "given": ["John"]}]),
    "name-text": lambda p: p.update(name=[{"text": "John Smith"}]),
    "address-use": lambda p: p.update(address=[{"use": "house", "postalCode": "LS1 4AP"}]),
    "address-number": lambda p: p.update(address=[{"postalCode": 1}]),
    "accuracy-code": lambda p: p.update(_birthDate={"extension": [{"url": ACCURACY, "valueCode": "ZZZ"}]}),
    "accuracy-url": lambda p: p.update(_birthDate={"extension": [{"url": "https://example.org/x", "valueCode": "A"}]}),
    "verification-code": lambda p: p.update(identifier=[{"system": NHS, "value": "9434765919", "extension": [
        {**VERIFIED, "valueCodeableConcept": {"coding": [{"system": VERIFICATION, "code": "99"}]}}]}]),
    "unknown-element": lambda p: p.update(colour="blue"),
    "bad-id": lambda p: p.update(id="a b"),
    "control-character": lambda p: p.update(name=[{"family": "Sm\x07ith", "given": ["John"]}]),
}  # fmt: skip


def test_the_common_rows_take_the_fast_path_and_the_full_check_agrees(importer: Importer) -> None:
    rows = corpus()
    fast = [row for row in rows if importer.fast.ok(row)]
    assert len(fast) >= 0.95 * len(rows)
    assert all(importer._full(row) == () for row in fast)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutated_row_is_never_accepted_by_the_fast_path_when_the_full_check_refuses_it(
    importer: Importer, name: str
) -> None:
    for row in corpus()[:40]:
        mutated = copy.deepcopy(row)
        MUTATIONS[name](mutated)
        if importer.fast.ok(mutated):
            assert importer._full(mutated) == (), (name, mutated)
        else:
            assert importer.verdict(mutated) == importer._full(mutated)


def test_most_mutations_make_the_row_invalid_so_the_test_above_can_fail(importer: Importer) -> None:
    refused = set()
    for name, mutation in MUTATIONS.items():
        mutated = patient()
        mutation(mutated)
        if importer._full(mutated):
            refused.add(name)
            assert not importer.fast.ok(mutated), name
    assert len(refused) >= 15, sorted(set(MUTATIONS) - refused)

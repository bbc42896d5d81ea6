"""The person index follows the store: a Patient written is matched within one refresh, and a bulk load written
within one instant is read once, not again at every refresh."""

from __future__ import annotations

from mais_node.clock import FixedClock
from mais_node.enquiry.persons import IndexedPersons
from mais_node.fhir.service import ResourceService
from mais_node.policy import MatchGrade
from mais_node.storage.port import ResourceStore
from tests.builders import NHS, patient


def person(i: int) -> dict[str, object]:
    return patient(id=f"p{i}", name=[{"use": "official", "family": f"Family{i}", "given": ["Sam"]}], identifier=None)


def test_a_bulk_load_within_one_instant_is_read_once(store: ResourceStore, clock: FixedClock) -> None:
    resources = ResourceService(store, clock)
    for i in range(450):  # more than two pages, all with the same lastUpdated
        resources.update("Patient", f"p{i}", person(i))
    persons = IndexedPersons(resources)
    assert persons.refresh() == 450
    assert persons.refresh() == 0
    clock.advance(seconds=1)
    resources.update("Patient", "late", patient(id="late", identifier=[{"system": NHS, "value": "9434765919"}]))
    assert persons.refresh() == 1
    assert len(persons.index) == 451


def test_a_deleted_person_is_no_longer_matched(store: ResourceStore, clock: FixedClock) -> None:
    resources = ResourceService(store, clock)
    resources.update("Patient", "p1", person(1))
    persons = IndexedPersons(resources, refresh_every=0)
    assert persons.match(person(1)).person_id == "p1"
    resources.delete("Patient", "p1")
    assert persons.match(person(1)).grade is MatchGrade.CERTAINLY_NOT

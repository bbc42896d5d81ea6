"""``ResourceStore.write_many`` (a bulk import's batch): the same behaviour on SQLite and on MongoDB, and the same
stored versions and search index as one write at a time through the service."""

from __future__ import annotations

from mais_node.clock import FixedClock
from mais_node.errors import InvalidRequest, MaisError
from mais_node.fhir.service import ResourceService
from mais_node.storage.port import ResourceStore, Stored
from tests.builders import NHS, patient


def ids(service: ResourceService, rtype: str, *pairs: tuple[str, str]) -> list[str]:
    return sorted(s.id for s in service.search(rtype, list(pairs)).page.items)


def test_a_batch_is_found_as_single_writes_are(store: ResourceStore, clock: FixedClock) -> None:
    service = ResourceService(store, clock)
    service.update("Patient", "single", patient(id="single", name=[{"family": "Okafor", "given": ["Ada"]}]))
    bodies = [patient(id=f"b{i}", name=[{"family": "Okafor", "given": [f"Ada{i}"]}]) for i in range(3)]
    outcomes = service.write_many(bodies, mark=None)
    assert [o.id for o in outcomes if isinstance(o, Stored)] == ["b0", "b1", "b2"]
    assert ids(service, "Patient", ("family", "okafor")) == ["b0", "b1", "b2", "single"]
    assert ids(service, "Patient", ("given", "Ada1")) == ["b1"]
    single, batched = service.read("Patient", "single").body, service.read("Patient", "b0").body
    assert set(single["meta"]) == set(batched["meta"]) == {"versionId", "lastUpdated"}


def test_the_same_resource_twice_in_a_batch_keeps_both_versions_and_only_the_last_is_found(
    store: ResourceStore, clock: FixedClock
) -> None:
    service = ResourceService(store, clock)
    first = patient(id="p1", identifier=[{"system": NHS, "value": "9434765919"}])
    second = patient(id="p1", identifier=[{"system": NHS, "value": "9434765870"}], gender="female")
    service.write_many([first, second], mark=None)
    assert service.read("Patient", "p1").version == 2
    assert service.vread("Patient", "p1", "1").body["gender"] == "male"
    assert ids(service, "Patient", ("identifier", f"{NHS}|9434765870")) == ["p1"]
    assert ids(service, "Patient", ("identifier", f"{NHS}|9434765919")) == []


def test_a_refused_body_is_answered_by_its_error_and_the_rest_are_written(
    store: ResourceStore, clock: FixedClock
) -> None:
    service = ResourceService(store, clock)
    outcomes = service.write_many([patient(id="ok"), patient(id="bad", gender="robot"), patient()], mark=None)
    assert isinstance(outcomes[0], Stored)
    assert isinstance(outcomes[1], MaisError)
    assert isinstance(outcomes[2], InvalidRequest)  # no id: a batch writes by id
    assert ids(service, "Patient") == ["ok"]


def test_the_mark_is_set_with_the_batch_and_cleared(store: ResourceStore, clock: FixedClock) -> None:
    service = ResourceService(store, clock)
    assert store.read_mark("person-import:abc") is None
    service.write_many([patient(id="p1")], mark=("person-import:abc", "2000"))
    assert store.read_mark("person-import:abc") == "2000"
    store.write_many([], mark=("person-import:abc", "4000"))
    assert store.read_mark("person-import:abc") == "4000"
    store.write_many([], mark=("person-import:abc", None))
    assert store.read_mark("person-import:abc") is None
    assert store.read_mark("string-normalisation") is not None  # other marks are left alone

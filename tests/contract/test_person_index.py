"""The person index contract (issue 17): the in-memory rows, SQLite and MongoDB answer every lookup alike.

The durable indexes are written only as a node writes them, with the Patient (``ResourceService`` or a ``Change``
carrying the entry); the in-memory one through its own write side. The last test proves item 4: on the labelled
quality set each store gives the same candidates, grades and scores as the in-memory ``PersonIndex``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import mongomock
import pytest

from mais_node.clock import FixedClock
from mais_node.fhir.search.extract import index_entries
from mais_node.fhir.service import ResourceService
from mais_node.matching import PersonIndex, from_fhir_patient
from mais_node.matching.blocking import lookup
from mais_node.matching.grades import Candidate
from mais_node.matching.index import MemoryPersonRows
from mais_node.matching.ports import PersonRows
from mais_node.matching.profile import profile_of
from mais_node.matching.rows import person_entry, rank
from mais_node.matching.synthetic import generate_population, noisy_queries, to_fhir_patient
from mais_node.storage.port import Change, ResourceStore
from mais_node.wiring import open_person_rows
from tests.builders import NHS, patient
from tests.conftest import STORES, make_store

KINDS = [pytest.param("memory", id="memory"), *STORES]


class Index:
    """One person index and the way a node writes to it."""

    def __init__(self, kind: str, rows: PersonRows, store: ResourceStore | None, clock: FixedClock) -> None:
        self.kind = kind
        self.rows = rows
        self.store = store
        self.resources = None if store is None else ResourceService(store, clock)

    def write(self, body: dict[str, Any]) -> None:
        if self.resources is None:
            assert isinstance(self.rows, MemoryPersonRows)
            self.rows.put(person_entry(body))
        else:
            self.resources.update("Patient", body["id"], body)

    def write_fast(self, body: dict[str, Any]) -> None:
        """As the service writes, without its structure check (the quality set's 2000 people)."""
        if self.store is None:
            self.write(body)
            return
        change = Change("update", "Patient", body["id"], "2026-11-26T09:30:00.000000", body, index_entries(body))
        self.store.write(replace(change, person=person_entry(body)))

    def delete(self, person_id: str) -> None:
        if self.resources is None:
            assert isinstance(self.rows, MemoryPersonRows)
            self.rows.remove(person_id)
        else:
            self.resources.delete("Patient", person_id)

    def match(self, subject: dict[str, Any], limit: int = 5) -> list[Candidate]:
        profile = profile_of(from_fhir_patient({**subject, "id": "subject"}))
        return rank(profile, self.rows.block(lookup(profile)), limit)


@pytest.fixture(params=KINDS)
def index(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Index]:
    if request.param == "memory":
        yield Index("memory", MemoryPersonRows(), None, clock)
        return
    store, close = make_store(request.param, tmp_path)
    rows = open_person_rows(store)
    assert rows.ensure() == 0  # a new store: nothing to build
    yield Index(request.param, rows, store, clock)
    close()


def ids(candidates: list[Candidate]) -> list[str]:
    return [candidate.id for candidate in candidates]


def smith(**changes: Any) -> dict[str, Any]:
    return patient(**{"id": "smith", **changes})


def test_a_written_person_is_found_by_nhs_number_and_by_name_and_birth_date(index: Index) -> None:
    index.write(smith())
    assert ids(index.match(smith())) == ["smith"]
    assert ids(index.match(smith(name=[{"family": "Jones", "given": ["Ann"]}], birthDate="1971-02-03"))) == ["smith"]
    assert ids(index.match(smith(identifier=None, address=None))) == ["smith"]
    assert not index.match(smith(identifier=None, name=[{"family": "Jones", "given": ["Ann"]}], address=None))


def test_an_update_files_the_person_under_the_new_keys_only(index: Index) -> None:
    index.write(smith())
    moved = smith(
        identifier=[{"system": NHS, "value": "9000000009"}],
        name=[{"use": "official", "family": "Okafor", "given": ["Grace"]}],
        birthDate="1984-11-30",
        address=[{"postalCode": "M1 1AE"}],
        gender="female",
    )
    index.write(moved)
    assert not index.match(smith())
    assert ids(index.match(moved)) == ["smith"]


def test_a_deleted_person_is_never_matched_again_and_can_come_back(index: Index) -> None:
    index.write(smith())
    index.write(patient(id="other", name=[{"family": "Smith", "given": ["Joan"]}], identifier=None))
    index.delete("smith")
    assert "smith" not in ids(index.match(smith()))
    index.write(smith())
    assert ids(index.match(smith()))[0] == "smith"


def test_a_batch_of_an_import_files_its_people_as_single_writes_do(index: Index) -> None:
    """``write_many`` (``mais person import``): new people, one already held and moved, one written twice."""
    if index.resources is None:
        pytest.skip("the in-memory rows have no store to write a batch to")
    index.write(smith())
    moved = smith(
        identifier=[{"system": NHS, "value": "9000000009"}],
        name=[{"use": "official", "family": "Okafor", "given": ["Grace"]}],
        birthDate="1984-11-30",
        address=[{"postalCode": "M1 1AE"}],
        gender="female",
    )
    first = patient(id="twice", identifier=None, name=[{"family": "Adeyemi", "given": ["Tolu"]}])
    second = {**first, "birthDate": "2011-04-05"}
    fresh = patient(
        id="fresh",
        identifier=[{"system": NHS, "value": "9876543210"}],
        name=[{"family": "Nowak", "given": ["Zofia"]}],
        birthDate="2002-07-19",
        address=[{"postalCode": "BD1 1AA"}],
        gender="female",
    )
    index.resources.write_many([moved, first, fresh, second], mark=None)
    assert not index.match(smith())
    assert ids(index.match(moved)) == ["smith"]
    assert ids(index.match(fresh)) == ["fresh"]
    assert ids(index.match(second)) == ["twice"]
    assert not index.match({key: value for key, value in first.items() if key != "address"})  # the first birth date


def test_a_person_filed_under_many_keys_of_the_lookup_is_one_candidate(index: Index) -> None:
    index.write(smith(name=[{"family": "Smith-Jones", "given": ["John"]}, {"use": "maiden", "family": "Smyth"}]))
    profile = profile_of(from_fhir_patient({**smith(), "id": "q"}))
    assert [row.id for row in index.rows.block(lookup(profile))] == ["smith"]


def test_an_enquiry_without_a_birth_date_looks_up_the_whole_postcode_sector(index: Index) -> None:
    index.write(smith())
    index.write(patient(id="far", birthDate="1950-01-01", address=[{"postalCode": "LS1 4ZZ"}], identifier=None))
    index.write(patient(id="elsewhere", address=[{"postalCode": "M1 1AE"}], identifier=None))
    profile = profile_of(from_fhir_patient({**smith(identifier=None, birthDate=None), "id": "q"}))
    assert profile.birth == 0
    assert lookup(profile).ranges
    assert sorted(row.id for row in index.rows.block(lookup(profile))) == ["far", "smith"]


@pytest.mark.slow
def test_the_same_candidates_grades_and_scores_as_the_in_memory_index_on_the_labelled_set(index: Index) -> None:
    # test_matching_synthetic's labelled set; mongomock scans every document for each find, so there a quarter.
    people, asked = (500, 125) if index.kind == "mongo" else (2000, 500)
    population = generate_population(2000, seed=7)[:people]
    for person in population:
        index.write_fast(to_fhir_patient(person))
    reference = PersonIndex(population)
    queries = noisy_queries(population, asked, seed=11)
    compared = 0
    for labelled in queries:
        expected = reference.match(labelled.query)
        got = index.match(to_fhir_patient(labelled.query))
        assert [(c.id, c.grade, c.score) for c in got] == [(c.id, c.grade, c.score) for c in expected]
        compared += bool(expected)
    assert compared > asked * 0.8  # most enquiries have candidates: the comparison is not of empty lists


def test_a_store_written_before_the_index_existed_is_indexed_once(tmp_path: Path, clock: FixedClock) -> None:
    from mais_node.storage.sqlite import SqliteResourceStore

    store, close = make_store("sqlite", tmp_path)
    assert isinstance(store, SqliteResourceStore)
    resources = ResourceService(store, clock)
    for n in range(3):
        resources.update("Patient", f"p{n}", patient(id=f"p{n}", birthDate=f"199{n}-05-01", identifier=None))
    resources.delete("Patient", "p2")
    with store.db.transaction() as conn:  # as a file from before issue 17 is
        conn.execute("DELETE FROM person_key")
        conn.execute("DELETE FROM person")
        conn.execute("DELETE FROM store_meta WHERE k = 'person-index'")
    rows = open_person_rows(store)
    assert rows.ensure() == 2
    assert rows.ensure() == 0
    profile = profile_of(from_fhir_patient({**patient(identifier=None, birthDate="1991-05-01"), "id": "q"}))
    assert sorted(row.id for row in rows.block(lookup(profile))) == ["p0", "p1"]  # p2 is deleted
    close()


def test_a_mongo_database_written_before_the_index_existed_is_indexed_once(clock: FixedClock) -> None:
    from mais_node.storage.mongo import MongoResourceStore

    database = mongomock.MongoClient().get_database("mais")
    store = MongoResourceStore(database)
    resources = ResourceService(store, clock)
    for n in range(3):
        resources.update("Patient", f"p{n}", patient(id=f"p{n}", birthDate=f"199{n}-05-01", identifier=None))
    resources.delete("Patient", "p2")
    database.get_collection("person_index").delete_many({})
    rows = open_person_rows(store)
    assert rows.ensure() == 2
    assert rows.ensure() == 0
    profile = profile_of(from_fhir_patient({**patient(identifier=None, birthDate="1991-05-01"), "id": "q"}))
    assert sorted(row.id for row in rows.block(lookup(profile))) == ["p0", "p1"]  # p2 is deleted

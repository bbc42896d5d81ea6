"""The person index lives with the data (issue 17): a Patient written through any connection to the store is
matched at the next enquiry, through every other, and a deleted one never again; nothing is read at start."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mais_node.cli import app
from mais_node.clock import FixedClock
from mais_node.enquiry.persons import IndexedPersons, match_bundle
from mais_node.fhir.service import ResourceService
from mais_node.policy import MatchGrade
from mais_node.storage.port import ResourceStore
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
from mais_node.wiring import open_person_rows
from tests.builders import NHS, patient


def person(i: int) -> dict[str, object]:
    return patient(id=f"p{i}", name=[{"use": "official", "family": f"Family{i}", "given": ["Sam"]}], identifier=None)


def persons_on(store: ResourceStore, clock: FixedClock) -> IndexedPersons:
    return IndexedPersons(ResourceService(store, clock), open_person_rows(store))


def test_a_written_person_is_matched_at_once_and_a_deleted_one_never_again(
    store: ResourceStore, clock: FixedClock
) -> None:
    persons = persons_on(store, clock)
    assert persons.refresh() == 0  # a new store: nothing to build
    resources = persons.resources
    resources.update("Patient", "p1", person(1))
    assert persons.match(person(1)).person_id == "p1"
    late = patient(id="late", birthDate="1970-01-01", address=None, identifier=[{"system": NHS, "value": "9434765919"}])
    resources.update("Patient", "late", late)
    assert persons.match(late).person_id == "late"
    resources.delete("Patient", "p1")
    assert persons.match(person(1)).grade is MatchGrade.CERTAINLY_NOT
    assert match_bundle(persons, person(1), "http://node/fhir")["total"] == 0


def test_a_write_through_one_connection_is_matched_through_another(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'mais.db'}"
    writer, reader = SqliteDatabase(url), SqliteDatabase(url)
    try:
        matching = persons_on(SqliteResourceStore(reader), clock)
        assert matching.match(person(7)).grade is MatchGrade.CERTAINLY_NOT
        ResourceService(SqliteResourceStore(writer), clock).update("Patient", "p7", person(7))
        assert matching.match(person(7)).person_id == "p7"
        ResourceService(SqliteResourceStore(writer), clock).delete("Patient", "p7")
        assert matching.match(person(7)).grade is MatchGrade.CERTAINLY_NOT
    finally:
        writer.close()
        reader.close()


def test_a_store_with_patients_but_no_index_is_indexed_by_the_first_refresh(tmp_path: Path, clock: FixedClock) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'mais.db'}")
    store = SqliteResourceStore(db)
    for i in range(450):
        ResourceService(store, clock).update("Patient", f"p{i}", person(i))
    with db.transaction() as conn:  # a file from before the index
        conn.execute("DELETE FROM person_key")
        conn.execute("DELETE FROM person")
        conn.execute("DELETE FROM store_meta WHERE k = 'person-index'")
    persons = persons_on(store, clock)
    assert persons.match(person(3)).person_id == "p3"  # never against an empty index: built first
    assert persons.refresh() == 0
    assert persons_on(store, clock).refresh() == 0  # another worker: the mark says it is built
    db.close()


def test_mais_person_reindex_builds_the_index_again_from_the_stored_patients(tmp_path: Path, clock: FixedClock) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'mais.db'}")
    store = SqliteResourceStore(db)
    for i in range(3):
        ResourceService(store, clock).update("Patient", f"p{i}", person(i))
    ResourceService(store, clock).delete("Patient", "p0")
    with db.transaction() as conn:  # rows lost, the mark kept: only a reindex makes them again
        conn.execute("DELETE FROM person")
        conn.execute("DELETE FROM person_key")
    assert persons_on(store, clock).match(person(1)).grade is MatchGrade.CERTAINLY_NOT
    result = CliRunner().invoke(app, ["person", "reindex", "--store", f"sqlite:///{tmp_path / 'mais.db'}"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("indexed 2 people in ")
    assert persons_on(store, clock).match(person(1)).person_id == "p1"
    assert "p0" not in [c.id for c in persons_on(store, clock).candidates(person(0))]  # deleted: not made again
    db.close()

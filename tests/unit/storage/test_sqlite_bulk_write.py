"""The import's fast SQLite paths (issue 17): a batch of distinct resources written one ``executemany`` per table
leaves exactly the rows that one write at a time leaves; ``bulk_load`` drops the search value indexes for a first
load and makes them whole again at its end, after an error inside it, and at the next opening after a crash; the
importer uses it only for a first load of many people. Real SQLite files throughout."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from mais_node.clock import FixedClock
from mais_node.fhir.bulk import Importer, MemoryScratch, Reading
from mais_node.fhir.service import ResourceService
from mais_node.storage.port import Change
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
from tests.builders import NHS, organization, patient
from tests.unit.fhir.bulk.conftest import ndjson

TABLES = {
    "resource": "SELECT rid, rtype, id, vid, lu, deleted, json FROM resource ORDER BY rid",
    "resource_version": "SELECT rtype, id, vid, lu, deleted, json FROM resource_version ORDER BY hseq",
    "sidx": "SELECT rid, p, v, s, x, lo, hi FROM sidx ORDER BY rid, p, v, s, x, lo, hi",
    "person": "SELECT * FROM person ORDER BY rid",
    "person_key": "SELECT key, rid FROM person_key ORDER BY key, rid",
}
VALUE_INDEXES = {"sidx_value", "sidx_range"}
ROOT = Path(__file__).resolve().parents[3]


def dump(db: SqliteDatabase) -> dict[str, list[tuple[object, ...]]]:
    conn = db.connection()
    return {name: conn.execute(query).fetchall() for name, query in TABLES.items()}


def indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def people(prefix: str, count: int, family: str = "Okafor") -> list[dict[str, object]]:
    return [
        patient(id=f"{prefix}{i}", identifier=None, name=[{"family": family, "given": [f"Ada{i}"]}])
        for i in range(count)
    ]


def store(path: Path, clock: FixedClock) -> tuple[SqliteDatabase, ResourceService]:
    db = SqliteDatabase(f"sqlite:///{path}")
    return db, ResourceService(SqliteResourceStore(db), clock)


def test_a_batch_of_new_changed_and_deleted_people_leaves_the_rows_of_one_write_at_a_time(
    tmp_path: Path, clock: FixedClock
) -> None:
    first = [*people("p", 4), organization(id="team")]
    # p0 renamed (new blocking keys), p1 given an NHS number, p2 deleted, p3 untouched, two new people, the team again
    second = [
        patient(id="p0", identifier=None, name=[{"family": "Adeyemi", "given": ["Ada0"]}]),
        patient(id="p1", identifier=[{"system": NHS, "value": "9434765919"}], name=[{"family": "Okafor"}]),
        *people("n", 2, family="Nwosu"),
        organization(id="team", name="Renamed Team"),
    ]
    results = []
    for name, batched in (("batched", True), ("single", False)):
        db, service = store(tmp_path / f"{name}.db", clock)
        changes = [service._change("update", str(b["resourceType"]), b, expected=None) for b in first]
        again = [service._change("update", str(b["resourceType"]), b, expected=None) for b in second]
        gone = Change("delete", "Patient", "p2", changes[0].last_updated)
        for batch in (changes, [*again, gone]):
            if batched:
                service.store.write_many(batch)
            else:
                for change in batch:
                    service.store.write(change)
        results.append(dump(db))
        db.close()
    batched_rows, single_rows = results
    assert batched_rows == single_rows
    assert len(batched_rows["resource_version"]) == 5 + 6
    assert {row[0] for row in batched_rows["person"]} == {1, 2, 4, 6, 7}  # p2 (row 3) left the index


def test_bulk_load_drops_the_value_indexes_searches_stay_right_and_the_end_makes_them_again(
    tmp_path: Path, clock: FixedClock
) -> None:
    db, service = store(tmp_path / "node.db", clock)
    assert indexes(tmp_path / "node.db") >= VALUE_INDEXES
    with service.store.bulk_load():
        assert not VALUE_INDEXES & indexes(tmp_path / "node.db")
        service.write_many(people("p", 3), mark=None)
        assert [p.id for p in service.search("Patient", [("given", "Ada1")]).page.items] == ["p1"]
    assert indexes(tmp_path / "node.db") >= VALUE_INDEXES
    found = service.search("Patient", [("family", "okafor")]).page.items
    assert sorted(p.id for p in found) == ["p0", "p1", "p2"]
    db.close()


def test_an_interrupted_bulk_load_leaves_its_indexes_to_the_next_opening(tmp_path: Path, clock: FixedClock) -> None:
    """Ctrl-C or a service manager's stop ends the load at once: the indexes (minutes to build at millions of people)
    are made when the store is next opened, by the resumed import or by ``mais serve``."""
    db, service = store(tmp_path / "node.db", clock)

    def stopped_load() -> None:
        with service.store.bulk_load():
            service.write_many(people("p", 3), mark=None)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stopped_load()
    assert not VALUE_INDEXES & indexes(tmp_path / "node.db")
    assert [p.id for p in service.search("Patient", [("given", "Ada1")]).page.items] == ["p1"]  # slower, still right
    db.close()
    db, service = store(tmp_path / "node.db", clock)
    assert indexes(tmp_path / "node.db") >= VALUE_INDEXES
    assert [p.id for p in service.search("Patient", [("given", "Ada2")]).page.items] == ["p2"]
    with pytest.raises(RuntimeError), service.store.bulk_load():  # any other failure still makes them at once
        raise RuntimeError("a failed load")
    assert indexes(tmp_path / "node.db") >= VALUE_INDEXES
    db.close()


CRASH = """
import os, sys
from mais_node.clock import FixedClock
from mais_node.fhir.service import ResourceService
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
from tests.builders import patient
from datetime import UTC, datetime
db = SqliteDatabase("sqlite:///" + sys.argv[1])
service = ResourceService(SqliteResourceStore(db), FixedClock(datetime.now(UTC)))
with service.store.bulk_load():
    service.write_many([patient(id=f"p{i}", identifier=None, name=[{"family": "Okafor", "given": [f"Ada{i}"]}])
                        for i in range(3)], mark=None)
    os._exit(3)  # the process dies inside the load: nothing after this line runs
"""


def test_a_crash_inside_a_bulk_load_leaves_the_indexes_made_at_the_next_opening(
    tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "node.db"
    died = subprocess.run([sys.executable, "-c", CRASH, str(path)], cwd=ROOT, check=False, timeout=60)
    assert died.returncode == 3
    assert not VALUE_INDEXES & indexes(path)
    db, service = store(path, clock)
    assert indexes(path) >= VALUE_INDEXES
    assert [p.id for p in service.search("Patient", [("given", "Ada2")]).page.items] == ["p2"]
    db.close()


def test_the_importer_defers_the_indexes_only_for_a_first_load_of_many_people(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, service = store(tmp_path / "node.db", clock)
    loads: list[str] = []
    real = SqliteResourceStore.bulk_load

    def counted(self: SqliteResourceStore) -> AbstractContextManager[None]:
        loads.append("load")
        return real(self)

    monkeypatch.setattr(SqliteResourceStore, "bulk_load", counted)
    small = ndjson(tmp_path / "small.ndjson", people("s", 3))
    Importer(service, MemoryScratch(), bulk_from=4, batch=2).run(Reading(small), lambda: Reading(small))
    assert loads == []  # fewer good rows than bulk_from
    Importer(service, MemoryScratch(), bulk_from=3, batch=2).run(Reading(small), lambda: Reading(small))
    assert loads == []  # the node holds people now
    assert sorted(p.id for p in service.search("Patient", [("family", "okafor")]).page.items) == ["s0", "s1", "s2"]
    db.close()

    db, service = store(tmp_path / "fresh.db", clock)
    many = ndjson(tmp_path / "many.ndjson", people("m", 5))
    Importer(service, MemoryScratch(), bulk_from=5, batch=2).run(Reading(many), lambda: Reading(many))
    assert loads == ["load"]
    assert indexes(tmp_path / "fresh.db") >= VALUE_INDEXES
    assert [p.id for p in service.search("Patient", [("given", "Ada4")]).page.items] == ["m4"]
    db.close()


def staged_and_merged(service: ResourceService, bodies: list[dict[str, object]], where: Path, line: int) -> None:
    """``bodies`` staged and merged as a first load's worker and importer do, in this process."""
    from mais_node.fhir.bulk.parallel import stage_all
    from mais_node.fhir.service import Prepared

    with service.store.bulk_load() as staging:
        assert staging is not None
        prepared = [p for p in service.prepare_many(bodies) if isinstance(p, Prepared)]
        stage_all(staging.stage, str(where), prepared)
        assert staging.merge(str(where), ("import", str(line)))
        raise KeyboardInterrupt  # stopped before the load's end


def person_keys(db: SqliteDatabase) -> list[tuple[int, int]]:
    """Every (key, rid) the ``person`` rows say they are filed under."""
    import struct

    rows = db.connection().execute("SELECT rid, keys FROM person").fetchall()
    return sorted((key, rid) for rid, keys in rows for key in set(struct.unpack(f"<{len(keys) // 8}q", keys)))


def test_a_first_loads_person_keys_are_sorted_in_at_its_end_or_at_the_next_opening(
    tmp_path: Path, clock: FixedClock
) -> None:
    """The merged keys wait in the load's own table (written in row order, not one B-tree page a key); a person
    changed during the load loses its old keys there too; the next opening takes the rest into ``person_key``."""
    from mais_node.storage.sqlite_person_index import LOADING

    db, service = store(tmp_path / "node.db", clock)
    with pytest.raises(KeyboardInterrupt):
        staged_and_merged(service, people("p", 3), tmp_path / "batch-1.db", 3)
    conn = db.connection()
    assert conn.execute("SELECT count(*) FROM person_key").fetchone()[0] == 0
    waiting = conn.execute(f"SELECT count(*) FROM {LOADING}").fetchone()[0]
    assert waiting == len(person_keys(db)) > 0
    # p1 renamed while its keys wait: an update through write_many, as a batch naming it again is written
    service.write_many([patient(id="p1", identifier=None, name=[{"family": "Adeyemi", "given": ["Bola"]}])], mark=None)
    db.close()

    db, service = store(tmp_path / "node.db", clock)
    conn = db.connection()
    assert conn.execute(f"SELECT 1 FROM sqlite_schema WHERE name = '{LOADING}'").fetchone() is None
    assert conn.execute("SELECT key, rid FROM person_key ORDER BY key, rid").fetchall() == person_keys(db)
    assert sorted(p.id for p in service.search("Patient", [("family", "okafor")]).page.items) == ["p0", "p2"]
    db.close()


def test_keys_a_load_under_way_merges_between_the_two_transactions_of_finishing_are_kept(
    tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's opening finishes a load still going on: a batch merged between ``finish_load``'s insert and
    its drop keeps its keys."""
    from collections.abc import Iterator
    from contextlib import contextmanager

    from mais_node.storage.sqlite_person_index import LOADING, finish_load

    db, service = store(tmp_path / "node.db", clock)
    with pytest.raises(KeyboardInterrupt):
        staged_and_merged(service, people("p", 3), tmp_path / "batch-1.db", 3)
    real = db.transaction
    done: list[int] = []

    @contextmanager
    def transaction() -> Iterator[sqlite3.Connection]:
        with real() as conn:
            yield conn
        done.append(1)
        if len(done) == 1:  # the importer's next merge, in between
            with real() as other:
                other.execute(f"INSERT INTO {LOADING} (rid, key) VALUES (99, 424242)")

    monkeypatch.setattr(db, "transaction", transaction)
    finish_load(db)
    monkeypatch.undo()
    conn = db.connection()
    assert conn.execute(f"SELECT 1 FROM sqlite_schema WHERE name = '{LOADING}'").fetchone() is None
    held = conn.execute("SELECT key, rid FROM person_key ORDER BY key, rid").fetchall()
    assert held == sorted([*person_keys(db), (424242, 99)])
    db.close()

"""The SQLite write path made cheaper: a date index of only the rows with a range (same answers to every date
search), an old file's full date index replaced at start, and WAL checkpoints run by a thread after writes."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mais_node.clock import FixedClock
from mais_node.fhir.search.dates import date_range
from mais_node.fhir.search.query import DateValue
from mais_node.fhir.service import ResourceService
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
from mais_node.storage.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from tests.builders import patient

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
# The FHIR R4 §3.1.1.5.7 prefixes on ranges: the resource's [lo, hi) against the searched [lo, hi).
REFERENCE: dict[str, Callable[[str, str, str, str], bool]] = {
    "eq": lambda rlo, rhi, lo, hi: rlo >= lo and rhi <= hi,
    "ne": lambda rlo, rhi, lo, hi: not (rlo >= lo and rhi <= hi),
    "gt": lambda rlo, rhi, lo, hi: rhi > hi,
    "lt": lambda rlo, rhi, lo, hi: rlo < lo,
    "ge": lambda rlo, rhi, lo, hi: rhi > lo,
    "le": lambda rlo, rhi, lo, hi: rlo < hi,
    "sa": lambda rlo, rhi, lo, hi: rlo >= hi,
    "eb": lambda rlo, rhi, lo, hi: rhi <= lo,
    "ap": lambda rlo, rhi, lo, hi: rlo < hi and rhi > lo,
}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(f"sqlite:///{tmp_path / 'mais.db'}")
    yield database
    database.close()


def _birth_date(rng: random.Random) -> str | None:
    year, month, day = rng.randint(1950, 1960), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice([None, f"{year}", f"{year}-{month:02d}", f"{year}-{month:02d}-{day:02d}"])


def test_every_date_search_answers_as_the_reference_does(db: SqliteDatabase, clock: FixedClock) -> None:
    service = ResourceService(SqliteResourceStore(db), clock, max_count=500)
    rng = random.Random(7)
    born: dict[str, str | None] = {}
    for _ in range(150):
        birth = _birth_date(rng)
        born[service.create("Patient", patient(birthDate=birth)).stored.id] = birth
    searched, matched = 0, 0
    for value in ("1955", "1950", "1960-12", "1957-06-15", "1949", "1961-01-01"):
        for prefix in PREFIXES:
            result = service.search("Patient", [("birthdate", prefix + value), ("_count", "500")])
            (searched_range,) = result.request.query.criteria[0].values  # "ap" widens the range it searches
            assert isinstance(searched_range, DateValue)
            lo, hi = searched_range.lo, searched_range.hi
            expected = {
                pid
                for pid, birth in born.items()
                if birth is not None and REFERENCE[prefix](*date_range(birth), lo, hi)
            }
            assert {s.id for s in result.page.items} == expected, (prefix, value)
            searched += 1
            matched += bool(expected)
    assert searched == 54
    assert matched > 30


def test_the_date_index_holds_only_rows_with_a_range(db: SqliteDatabase, clock: FixedClock) -> None:
    service = ResourceService(SqliteResourceStore(db), clock)
    for birth in ("1990-05-01", None, "1991"):
        service.create("Patient", patient(birthDate=birth))
    conn = db.connection()
    (sql,) = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'sidx_range'").fetchone()
    assert "WHERE lo IS NOT NULL" in sql
    dated = "p IN ('Patient.birthdate', 'Patient._lastUpdated')"
    in_index = conn.execute("SELECT count(*) FROM sidx INDEXED BY sidx_range WHERE lo IS NOT NULL").fetchone()[0]
    assert in_index == conn.execute(f"SELECT count(*) FROM sidx WHERE {dated}").fetchone()[0] == 2 + 3
    assert conn.execute("SELECT count(*) FROM sidx").fetchone()[0] > 4 * in_index


def test_a_file_with_the_old_full_date_index_gets_the_new_one_at_start(tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteDatabase(url)
    ResourceService(SqliteResourceStore(old), clock).create("Patient", patient())
    conn = old.connection()
    conn.execute("DROP INDEX sidx_range")
    conn.execute("CREATE INDEX sidx_date ON sidx (p, lo, hi, rid)")
    old.close()
    reopened = SqliteDatabase(url)
    names = {row[0] for row in reopened.connection().execute("SELECT name FROM sqlite_schema WHERE type = 'index'")}
    assert "sidx_date" not in names
    assert "sidx_range" in names
    service = ResourceService(SqliteResourceStore(reopened), clock)
    assert len(service.search("Patient", [("birthdate", "1990-05-01")]).page.items) == 1
    reopened.close()


def test_a_commit_leaves_the_checkpoint_to_the_thread(db: SqliteDatabase, clock: FixedClock) -> None:
    called = threading.Event()
    real = db._checkpoint

    def checkpoint() -> None:
        real()
        called.set()

    db._checkpointer.stop()  # the one opening the store started (it writes its normalisation version) ends here
    db._checkpointer = Checkpointer(checkpoint, delay=0.01)
    assert db.connection().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
    assert not _checkpoint_threads()
    ResourceService(SqliteResourceStore(db), clock).create("Patient", patient())
    assert called.wait(5)
    assert len(_checkpoint_threads()) == 1
    db.close()
    assert not _checkpoint_threads()


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint" and t.is_alive()]


def test_writes_close_together_are_checkpointed_together_and_a_failure_does_not_stop_the_thread() -> None:
    calls: list[float] = []

    def checkpoint() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")

    checkpointer = Checkpointer(checkpoint, delay=0.05)
    for _ in range(20):
        checkpointer.wrote()
    _wait_for(lambda: len(calls) == 1)
    checkpointer.wrote()
    _wait_for(lambda: len(calls) == 2)
    time.sleep(0.15)
    assert len(calls) == 2
    checkpointer.stop()
    checkpointer.wrote()
    time.sleep(0.1)
    assert len(calls) == 2


def test_a_stopped_checkpointer_that_never_started_starts_no_thread() -> None:
    checkpointer = Checkpointer(lambda: None)
    checkpointer.stop()
    checkpointer.wrote()
    assert not _checkpoint_threads()


def _wait_for(condition: Callable[[], bool], seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)

"""The SQLite audit append: sealed outside the write lock on a guessed tail, re-sealed when the guess is stale,
written in multi-row inserts, and queued with resource writes on one lock per file, in this process and across
processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import mais_node
from mais_node.audit import balp
from mais_node.audit.actors import Actor, Node, Subject
from mais_node.audit.checkpoint import Checkpoint
from mais_node.audit.port import Event
from mais_node.audit.query import parse_audit_query
from mais_node.audit.verify import verify
from mais_node.clock import FixedClock
from mais_node.errors import AuditUnavailable
from mais_node.storage import sqlite_audit
from mais_node.storage.port import Change
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
from mais_node.storage.sqlite_audit import SqliteAuditLog
from mais_node.storage.sqlite_writers import WriteLock, write_lock

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NODE = Node("X26", "Test Borough Council", "https://node.test/fhir", "https://mais.test")


def event(org: str, i: int = 0) -> Event:
    return balp.disclosure(
        NODE,
        T0 + timedelta(seconds=i),
        Actor(org, f"client-{org}"),
        enquiry_id=f"e{i}",
        subject=Subject("9434765919"),
        items=["is-known"],
    )


def test_an_append_after_another_writer_chains_after_that_writer(tmp_path: Path) -> None:
    mine, theirs = SqliteAuditLog(tmp_path / "a.db"), SqliteAuditLog(tmp_path / "a.db")
    mine.append_many([event("MINE", 1), event("MINE", 2)])
    between = theirs.append(event("THEIRS", 3))  # mine's guessed tail (seq 2) is now stale
    records = mine.append_many([event("MINE", 4)])
    assert [r.seq for r in records] == [4]
    assert records[0].prev_hash == between.hash
    report = verify(mine.scan())
    assert report.ok
    assert report.records == 4
    mine.close()
    theirs.close()


def test_a_rolled_back_append_leaves_the_guess_unused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = SqliteAuditLog(tmp_path / "a.db")
    log.append(event("A", 1))

    def refuse(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(sqlite_audit, "_insert_rows", refuse)
        with pytest.raises(AuditUnavailable):
            log.append_many([event("A", 2), event("A", 3)])
    assert log.append(event("A", 4)).seq == 2
    assert verify(log.scan()).ok
    log.close()


def test_a_batch_larger_than_one_insert_is_stored_whole_and_indexed(tmp_path: Path) -> None:
    log = SqliteAuditLog(tmp_path / "a.db")
    size = 3 * sqlite_audit._MAX_ROWS + 7
    records = log.append_many([event(f"O{i % 4}", i) for i in range(size)])
    assert [r.seq for r in records] == list(range(1, size + 1))
    report = verify(log.scan())
    assert report.ok
    assert report.records == size
    found, total = 0, 0
    query = parse_audit_query([("agent", "O1"), ("_count", "200")])
    while True:
        page = log.search(query)
        found += len(page.records)
        total += sum(1 for r in page.records if "O1" in {a["who"]["identifier"]["value"] for a in r.event["agent"]})
        if page.next_cursor is None:
            break
        query = parse_audit_query([("agent", "O1"), ("_count", "200"), ("_cursor", page.next_cursor)])
    assert found == total == len(range(1, size, 4))
    log.close()


def test_one_lock_per_file_whatever_the_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert write_lock("a.db") is write_lock(str(tmp_path / "a.db"))
    assert write_lock("a.db") is not write_lock("b.db")
    assert write_lock(":memory:") is not write_lock(":memory:")


def append_one(log: SqliteAuditLog) -> int:
    return log.append(event("A")).seq


def put_checkpoint(log: SqliteAuditLog) -> int:
    log.put_checkpoint(Checkpoint(1, "h", T0, "jws"))
    return 1


WRITES = {"an append": append_one, "a checkpoint": put_checkpoint}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_an_audit_write_waits_for_a_resource_write_instead_of_failing_busy(
    tmp_path: Path, write: Callable[[SqliteAuditLog], int]
) -> None:
    path = tmp_path / "node.db"
    db = SqliteDatabase(f"sqlite:///{path}")
    log = SqliteAuditLog(path, busy_timeout_ms=1)  # SQLite alone would refuse it at once: the file is locked
    entered, release = threading.Event(), threading.Event()

    def resource_write() -> None:
        with db.transaction() as conn:
            SqliteResourceStore(db)._write(conn, Change("create", "Basic", "b1", "2026-03-01T09:00:00Z", {}, ()))
            entered.set()
            release.wait(5)

    writer = threading.Thread(target=resource_write)
    writer.start()
    assert entered.wait(5)
    done: list[int] = []
    failed: list[BaseException] = []

    def audit_write() -> None:
        try:
            done.append(write(log))
        except AuditUnavailable as exc:
            failed.append(exc)

    appender = threading.Thread(target=audit_write)
    appender.start()
    time.sleep(0.1)
    assert (done, failed) == ([], [])  # queued behind the resource transaction, not refused
    release.set()
    writer.join()
    appender.join()
    assert (done, failed) == ([1], [])
    log.close()
    db.close()


OTHER_PROCESS = """
import sys, time
from mais_node.storage.port import Change
from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore
db = SqliteDatabase("sqlite:///" + sys.argv[1])
with db.transaction() as conn:
    SqliteResourceStore(db)._write(conn, Change("create", "Basic", "b1", "2026-03-01T09:00:00Z", {}, ()))
    print("held", flush=True)
    time.sleep(0.4)
db.close()
"""


def test_an_audit_write_waits_for_another_process_s_write_instead_of_failing_busy(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    SqliteDatabase(f"sqlite:///{path}").close()
    log = SqliteAuditLog(path, busy_timeout_ms=1)  # SQLite alone would refuse it at once: the file is locked
    source = str(Path(mais_node.__file__).parents[1])
    with subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": source},
    ) as other:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert log.append(event("A")).seq == 1  # queued on the other process's lock, not refused
        assert time.monotonic() - started > 0.1  # it waited for that transaction to end
        assert other.wait(10) == 0
    log.close()


def test_a_lock_file_that_cannot_be_opened_leaves_the_writers_to_sqlite(tmp_path: Path) -> None:
    lock = WriteLock(str(tmp_path / "missing" / "node.db-lock"))
    with lock, lock:  # re-entrant, and the failure to open the file is not the writer's
        pass
    with lock:
        pass


def test_the_clock_stamps_events_without_a_recorded_time(tmp_path: Path) -> None:
    log = SqliteAuditLog(tmp_path / "a.db", clock=FixedClock(T0))
    record = log.append({"resourceType": "AuditEvent", "action": "E"})
    assert record.recorded == T0

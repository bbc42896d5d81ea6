"""The audit-log contract (DESIGN §7, §8): every adapter appends, scans, searches, pages, keeps checkpoints,
shows tampering done behind its back, keeps one chain under concurrent writers, and fails closed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import mongomock
import orjson
import pymongo
import pytest

from mais_node.adapters.jose_signer import JoseSigner, generate_es384
from mais_node.audit import balp
from mais_node.audit.actors import Actor, Coding, Node, Subject
from mais_node.audit.checkpoint import Checkpointer
from mais_node.audit.port import AuditLog, CheckpointStore, Event
from mais_node.audit.query import parse_audit_query
from mais_node.audit.verify import verify
from mais_node.clock import FixedClock
from mais_node.errors import AuditUnavailable
from mais_node.storage.mongo_audit import MongoAuditLog
from mais_node.storage.sqlite_audit import SqliteAuditLog

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NODE = Node("X26", "Test Borough Council", "https://node.test/fhir", "https://mais.test")
MONGO_URI = os.environ.get("MAIS_TEST_MONGODB_URI")


class Store(AuditLog, CheckpointStore, Protocol):
    """What the contract asks of an adapter: both audit ports."""


@dataclass
class Harness:
    log: Store
    edit: Callable[[int, dict[str, Any]], None]  # change stored fields of record seq behind the adapter's back
    delete: Callable[[int], None]
    break_store: Callable[[], None]
    again: Callable[[], Store]  # a second instance on the same store (another worker)


def event(org: str = "A1", nhs: str = "9434765919", at: datetime = T0) -> Event:
    who = Actor(org, f"client-{org}", "u-1", "Sam Worker", None, (Coding("http://x/PurposeOfUse", "THREAT"),))
    return balp.decision(
        NODE, at, who, enquiry_id="e1", item="is-known", outcome="permit", rule_ids=["r1"], subject=Subject(nhs)
    )


def _sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    path = tmp_path / "mais.db"
    logs = [SqliteAuditLog(path, busy_timeout_ms=500)]  # short, so the fail-closed test does not wait long

    def raw(sql: str, *args: object) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(sql, args)
        conn.close()

    def edit(seq: int, fields: dict[str, Any]) -> None:
        with sqlite3.connect(path) as conn:
            (blob,) = conn.execute("SELECT event FROM audit_log WHERE seq = ?", (seq,)).fetchone()
            changed = orjson.dumps(orjson.loads(zlib.decompress(blob)) | fields)
            conn.execute("UPDATE audit_log SET event = ? WHERE seq = ?", (zlib.compress(changed), seq))
        conn.close()

    holder: list[sqlite3.Connection] = []

    def break_store() -> None:
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the file: the audit write cannot be made durable
        holder.append(locker)

    def again() -> Store:
        logs.append(SqliteAuditLog(path))
        return logs[-1]

    yield Harness(logs[0], edit, lambda seq: raw("DELETE FROM audit_log WHERE seq = ?", seq), break_store, again)
    for conn in holder:
        conn.close()
    for log in logs:
        log.close()


def _mongo(db: Any, collection_class: type, monkeypatch: pytest.MonkeyPatch) -> Harness:
    def edit(seq: int, fields: dict[str, Any]) -> None:
        db["audit_event"].update_one({"_id": seq}, {"$set": {f"event.{k}": v for k, v in fields.items()}})

    def break_store() -> None:
        def refuse(*args: object, **kwargs: object) -> None:
            raise pymongo.errors.AutoReconnect("primary stepped down")

        monkeypatch.setattr(collection_class, "insert_one", refuse)
        monkeypatch.setattr(collection_class, "find_one", refuse)
        monkeypatch.setattr(collection_class, "replace_one", refuse)

    return Harness(
        MongoAuditLog(db),
        edit,
        lambda seq: db["audit_event"].delete_one({"_id": seq}),
        break_store,
        lambda: MongoAuditLog(db),
    )


def _atomic_mongomock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each mongomock operation atomic, as each single-document operation is on a real server.

    mongomock checks ``_id`` uniqueness and stores in two steps without a lock, so two threads can both "insert"
    seq N; a server never lets that happen. Writers still interleave between their reads and inserts.
    """
    lock = threading.Lock()
    for name in ("insert_one", "find_one"):
        method = getattr(mongomock.Collection, name)

        def atomic(self: Any, *args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with lock:
                return _method(self, *args, **kwargs)

        monkeypatch.setattr(mongomock.Collection, name, atomic)


@pytest.fixture(params=["sqlite", "mongo", "mongo-real"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    if request.param == "sqlite":
        yield from _sqlite(tmp_path, monkeypatch)
    elif request.param == "mongo":
        _atomic_mongomock(monkeypatch)
        yield _mongo(mongomock.MongoClient()["mais"], mongomock.Collection, monkeypatch)
    else:
        if not MONGO_URI:
            pytest.skip("no MongoDB server on this machine: set MAIS_TEST_MONGODB_URI to run against one")
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=3000)
        name = f"mais_audit_test_{os.getpid()}"
        client.drop_database(name)
        yield _mongo(client[name], pymongo.collection.Collection, monkeypatch)
        client.drop_database(name)
        client.close()


def fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(event(org=f"A{i % 3}", nhs=f"94347659{i % 5:02d}", at=T0 + timedelta(hours=i)))


def test_append_chains_and_last_is_the_tail(store: Harness) -> None:
    assert store.log.last() is None
    first = store.log.append(event())
    second = store.log.append(event())
    assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)
    assert store.log.last() == second
    assert second.event["id"] == "2"


def test_scan_streams_in_sequence_order_and_verifies(store: Harness) -> None:
    fill(store.log, 12)
    assert [r.seq for r in store.log.scan()] == list(range(1, 13))
    assert [r.seq for r in store.log.scan(from_seq=10)] == [10, 11, 12]
    report = verify(store.log.scan())
    assert report.ok
    assert report.records == 12


def test_search_by_patient_and_by_agent_in_a_window_with_paging(store: Harness) -> None:
    fill(store.log, 30)
    by_patient = store.log.search(parse_audit_query([("patient", "9434765901")]))
    assert [r.seq for r in by_patient.records] == [2, 7, 12, 17, 22, 27]
    assert by_patient.next_cursor is None
    pairs = [("agent", "A1"), ("date", "ge2026-03-01T12:00"), ("date", "lt2026-03-02T06:00"), ("_sort", "-date")]
    first = store.log.search(parse_audit_query([*pairs, ("_count", "3")]))
    assert [r.seq for r in first.records] == [20, 17, 14]
    assert first.next_cursor
    rest = store.log.search(parse_audit_query([*pairs, ("_count", "3"), ("_cursor", first.next_cursor)]))
    assert [r.seq for r in rest.records] == [11, 8, 5]
    assert rest.next_cursor is None


def test_search_without_an_indexed_parameter_scans_by_date(store: Harness) -> None:
    fill(store.log, 10)
    page = store.log.search(parse_audit_query([("date", "lt2026-03-01T12:00"), ("purpose", "THREAT")]))
    assert [r.seq for r in page.records] == [1, 2, 3]
    assert store.log.search(parse_audit_query([("agent", "NOBODY")])).records == []


def test_search_by_identifier_by_bare_id_and_outside_a_date(store: Harness) -> None:
    """The R4 forms an auditor's client sends (issue 12 item 8) find the same records through every store's index."""
    fill(store.log, 15)
    who = Actor("A1", "client-A1")
    store.log.append(
        balp.disclosure(
            NODE,
            T0 + timedelta(days=1),
            who,
            enquiry_id="e2",
            subject=Subject("9434765901", "Patient/P7"),
            items=["is-known"],
        )
    )
    by_identifier = parse_audit_query([("patient:identifier", "https://fhir.nhs.uk/Id/nhs-number|9434765901")])
    assert [r.seq for r in store.log.search(by_identifier).records] == [2, 7, 12, 16]
    assert [r.seq for r in store.log.search(parse_audit_query([("patient", "P7")])).records] == [16]
    agent = [("agent:identifier", "https://fhir.nhs.uk/Id/ods-organization-code|A1"), ("date", "ne2026-03-01T13:00")]
    assert [r.seq for r in store.log.search(parse_audit_query([*agent, ("_count", "2")])).records] == [2, 8]
    assert [r.seq for r in store.log.search(parse_audit_query(agent)).records] == [2, 8, 11, 14, 16]


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [("date", "ge2026-03-01T05:00")],
        [("patient", "9434765901")],
        [("patient", "9434765901,Patient/P7"), ("date", "lt2026-03-01T20:00")],
        [("agent", "A1,A2")],
        [("agent", "A1,client-A1")],  # one record through two of its keys, counted once
        [("policy", "urn:x")],
        [("patient:identifier", "https://fhir.nhs.uk/Id/nhs-number|9434765901")],  # read to check the system
        [("agent", "A1"), ("purpose", "THREAT")],
        [("date", "ne2026-03-01T13:00")],
    ],
)
def test_count_equals_the_matches_found_by_paging(store: Harness, pairs: list[tuple[str, str]]) -> None:
    """_total and _summary=count: each store counts from its index where that is exact, and agrees with paging."""
    fill(store.log, 24)
    store.log.append(
        balp.disclosure(NODE, T0, Actor("A1"), enquiry_id="e", subject=Subject(reference="Patient/P7"), items=[])
    )
    query = parse_audit_query(pairs)
    found, page = 0, store.log.search(replace(query, count=5))
    while True:
        found += len(page.records)
        if page.next_cursor is None:
            break
        page = store.log.search(parse_audit_query([*pairs, ("_count", "5"), ("_cursor", page.next_cursor)]))
    assert store.log.count(query) == found


def test_checkpoints_are_kept_and_the_latest_returned(store: Harness) -> None:
    signer = JoseSigner(generate_es384())
    assert store.log.latest_checkpoint() is None
    trail = Checkpointer(store.log, store.log, signer, FixedClock(T0), every=5)
    for i in range(11):
        trail.append(event(at=T0 + timedelta(minutes=i)))
    latest = store.log.latest_checkpoint()
    assert latest is not None
    assert latest.seq == 10
    store.log.put_checkpoint(latest)  # idempotent
    assert store.log.latest_checkpoint() == latest
    assert verify(store.log.scan(), latest, signer).ok


def test_a_field_edited_in_the_store_is_caught(store: Harness) -> None:
    fill(store.log, 6)
    store.edit(4, {"outcome": "8"})
    report = verify(store.log.scan())
    assert (report.first_bad_seq, report.problem) == (4, "changed")


def test_a_record_deleted_in_the_store_is_caught(store: Harness) -> None:
    fill(store.log, 6)
    store.delete(3)
    report = verify(store.log.scan())
    assert (report.first_bad_seq, report.problem) == (3, "removed")


def test_a_deleted_tail_is_caught_by_the_checkpoint(store: Harness) -> None:
    signer = JoseSigner(generate_es384())
    fill(store.log, 6)
    checkpoint = Checkpointer(store.log, store.log, signer, FixedClock(T0)).checkpoint()
    store.delete(6)
    report = verify(store.log.scan(), checkpoint, signer)
    assert (report.first_bad_seq, report.problem) == (6, "truncated")


def test_concurrent_writers_keep_one_valid_chain(store: Harness) -> None:
    writers = (store.again(), store.again())  # two workers on the same store, with default timeouts
    errors: list[BaseException] = []

    def write(log: AuditLog) -> None:
        try:
            for _ in range(40):
                log.append(event())
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(log,)) for log in (*writers, writers[0])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify(store.log.scan())
    assert report.ok
    assert report.records == 120


def test_append_fails_closed_when_the_store_fails(store: Harness) -> None:
    store.log.append(event())
    store.break_store()
    with pytest.raises(AuditUnavailable) as refused:
        store.log.append(event())
    assert refused.value.code == "transient"
    assert isinstance(refused.value.__cause__, (sqlite3.Error, pymongo.errors.PyMongoError))


def test_the_readiness_probe_leaves_the_chain_alone_and_fails_when_a_record_could_not_be_written(
    store: Harness,
) -> None:
    """Issue 13 item 10: ``probe`` writes beside the chain (never into it) and fails where an append would."""
    store.log.append(event())
    tail = store.log.last()
    for _ in range(3):
        store.log.probe()
    assert store.log.last() == tail
    assert len(list(store.log.scan())) == 1
    store.break_store()
    with pytest.raises(AuditUnavailable):
        store.log.probe()


def test_a_mongo_writer_that_loses_the_race_for_a_seq_chains_after_the_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    db: Any = mongomock.MongoClient()["mais"]
    writer, rival = MongoAuditLog(db), MongoAuditLog(db)
    writer.append(event())
    read_tail = mongomock.Collection.find_one
    raced: list[bool] = []

    def stale(self: Any, *args: Any, **kwargs: Any) -> Any:
        tail = read_tail(self, *args, **kwargs)
        if not raced:
            raced.append(True)
            rival.append(event(org="RIVAL"))  # lands between the writer's read of the tail and its insert
        return tail

    monkeypatch.setattr(mongomock.Collection, "find_one", stale)
    record = writer.append(event(org="WRITER"))
    assert record.seq == 3
    assert [r.event["agent"][2]["who"]["identifier"]["value"] for r in writer.scan(2)] == ["RIVAL", "WRITER"]
    assert verify(writer.scan()).ok

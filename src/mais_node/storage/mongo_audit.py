"""The audit trail on MongoDB (DESIGN §7, §8): one document per chained AuditEvent, ``_id`` = seq.

An append reads the tail and inserts seq + 1 in one single-document write with write concern majority and journal;
the unique ``_id`` is the arbiter between writers (replicas, workers): the loser of a race gets DuplicateKeyError,
re-reads the tail and tries again, so the chain never forks and no transaction is needed. ``_idx`` holds the
record's search keys (multikey index). Every pymongo error becomes AuditUnavailable here, so the node fails closed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.audit.chain import GENESIS, record_from, seal, to_micros
from mais_node.audit.checkpoint import Checkpoint
from mais_node.audit.index import index_keys
from mais_node.audit.port import AuditPage, AuditRecord, Event
from mais_node.audit.query import AuditQuery, count_pages, page_of
from mais_node.clock import Clock, SystemClock
from mais_node.errors import AuditUnavailable

Document = Mapping[str, Any]
DURABLE = WriteConcern(w="majority", j=True)
PROBE_BYTES = 4096  # about one record with its index keys
MAX_RACES = 1000  # a writer losing this many races in a row means the store is unusable, not busy


def _doc_record(doc: Document) -> AuditRecord:
    return record_from(int(doc["_id"]), doc["prev_hash"], doc["hash"], dict(doc["event"]))


class MongoAuditLog:
    """AuditLog and CheckpointStore in the node's database: collections ``audit_event``, ``audit_checkpoint``."""

    def __init__(self, db: Database[Document], *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._log: Collection[Document] = db.get_collection("audit_event", write_concern=DURABLE)
        self._checkpoints: Collection[Document] = db.get_collection("audit_checkpoint", write_concern=DURABLE)
        self._probe: Collection[Document] = db.get_collection("audit_probe", write_concern=DURABLE)
        try:
            self._log.create_index(
                [("_idx", pymongo.ASCENDING), ("recorded", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)]
            )
            self._log.create_index([("recorded", pymongo.ASCENDING), ("_id", pymongo.ASCENDING)])
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be opened") from exc

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        """Each record is its own atomic insert (no transactions): a crash mid-batch leaves a valid prefix."""
        return [self.append(event) for event in events]

    def append(self, event: Event) -> AuditRecord:
        try:
            for _ in range(MAX_RACES):
                tail = self._log.find_one({}, {"hash": 1}, sort=[("_id", pymongo.DESCENDING)])
                seq, prev = (int(tail["_id"]) + 1, tail["hash"]) if tail else (1, GENESIS)
                record = seal(event, seq, prev, self._clock)
                doc = {
                    "_id": seq,
                    "prev_hash": prev,
                    "hash": record.hash,
                    "recorded": to_micros(record.recorded),
                    "event": record.event,
                    "_idx": sorted(f"{param}={value}" for param, value in index_keys(record.event)),
                }
                try:
                    self._log.insert_one(doc)
                except DuplicateKeyError:
                    continue  # another writer took this seq: chain after its record instead
                return record
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be written") from exc
        raise AuditUnavailable("the audit trail is contended beyond reason")

    def probe(self) -> None:
        """One document of ``audit_probe`` rewritten with the trail's write concern (majority, journal)."""
        try:
            doc = {"at": to_micros(self._clock.now()), "pad": os.urandom(PROBE_BYTES)}
            self._probe.replace_one({"_id": 1}, doc, upsert=True)
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be written") from exc

    def scan(self, from_seq: int = 1) -> Iterator[AuditRecord]:
        try:
            for doc in self._log.find({"_id": {"$gte": from_seq}}, sort=[("_id", pymongo.ASCENDING)], batch_size=1000):
                yield _doc_record(doc)
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc

    def search(self, query: AuditQuery) -> AuditPage:
        order = pymongo.DESCENDING if query.descending else pymongo.ASCENDING
        conditions: list[dict[str, Any]] = []
        driver = query.driver()
        if driver:
            conditions.append({"_idx": {"$in": [f"{driver[0]}={key}" for key in driver[1]]}})
        window: dict[str, int] = {}
        if query.since is not None:
            window["$gte"] = to_micros(query.since)
        if query.until is not None:
            window["$lt"] = to_micros(query.until)
        if window:
            conditions.append({"recorded": window})
        if query.after is not None:
            at, seq = query.after
            op = "$lt" if query.descending else "$gt"
            conditions.append({"$or": [{"recorded": {op: at}}, {"recorded": at, "_id": {op: seq}}]})
        spec = {"$and": conditions} if conditions else {}
        try:
            cursor = self._log.find(spec, sort=[("recorded", order), ("_id", order)], batch_size=query.count + 1)
            try:
                return page_of((_doc_record(doc) for doc in cursor), query)
            finally:
                cursor.close()
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc

    def count(self, query: AuditQuery) -> int:
        """From the ``_idx`` keys (or every record) in the date window when they are exactly the matches, else by
        paging."""
        exact = query.counted_by_index()
        if exact is None:
            return count_pages(self.search, query)
        param, keys = exact
        spec: dict[str, Any] = {"_idx": {"$in": [f"{param}={key}" for key in keys]}} if param else {}
        window: dict[str, int] = {}
        if query.since is not None:
            window["$gte"] = to_micros(query.since)
        if query.until is not None:
            window["$lt"] = to_micros(query.until)
        if window:
            spec["recorded"] = window
        try:
            return int(self._log.count_documents(spec))
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc

    def last(self) -> AuditRecord | None:
        try:
            doc = self._log.find_one({}, sort=[("_id", pymongo.DESCENDING)])
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc
        return _doc_record(doc) if doc else None

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        doc = checkpoint.to_json()
        try:
            self._checkpoints.update_one({"_id": checkpoint.seq}, {"$setOnInsert": doc}, upsert=True)
        except PyMongoError as exc:
            raise AuditUnavailable("the audit checkpoint cannot be written") from exc

    def latest_checkpoint(self) -> Checkpoint | None:
        try:
            doc = self._checkpoints.find_one({}, sort=[("_id", pymongo.DESCENDING)])
        except PyMongoError as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc
        return Checkpoint.from_json(dict(doc)) if doc else None

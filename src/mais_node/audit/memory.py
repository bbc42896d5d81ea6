"""An in-memory AuditLog and CheckpointStore for the fast tests (DESIGN §7); ``failing`` makes writes fail."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from mais_node.audit.chain import GENESIS, seal, to_micros
from mais_node.audit.checkpoint import Checkpoint
from mais_node.audit.port import AuditPage, AuditRecord, Event
from mais_node.audit.query import AuditQuery, count_pages, page_of
from mais_node.clock import Clock, SystemClock
from mais_node.errors import AuditUnavailable


class MemoryAuditLog:
    def __init__(self, clock: Clock | None = None) -> None:
        self.records: list[AuditRecord] = []
        self.checkpoints: list[Checkpoint] = []
        self.failing = False
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        with self._lock:
            if self.failing:
                raise AuditUnavailable("the audit trail cannot be written")
        return [self.append(event) for event in events]

    def append(self, event: Event) -> AuditRecord:
        with self._lock:
            if self.failing:
                raise AuditUnavailable("the audit trail cannot be written")
            tail = self.records[-1] if self.records else None
            record = seal(event, tail.seq + 1 if tail else 1, tail.hash if tail else GENESIS, self._clock)
            self.records.append(record)
            return record

    def scan(self, from_seq: int = 1) -> Iterator[AuditRecord]:
        return iter([r for r in self.records if r.seq >= from_seq])

    def search(self, query: AuditQuery) -> AuditPage:
        def key(record: AuditRecord) -> tuple[int, int]:
            return to_micros(record.recorded), record.seq

        since = to_micros(query.since) if query.since else None
        until = to_micros(query.until) if query.until else None
        candidates = [
            r
            for r in sorted(self.records, key=key, reverse=query.descending)
            if (since is None or key(r)[0] >= since)
            and (until is None or key(r)[0] < until)
            and (query.after is None or (key(r) < query.after if query.descending else key(r) > query.after))
        ]
        return page_of(candidates, query)

    def count(self, query: AuditQuery) -> int:
        return count_pages(self.search, query)

    def last(self) -> AuditRecord | None:
        return self.records[-1] if self.records else None

    def probe(self) -> None:
        if self.failing:
            raise AuditUnavailable("the audit trail cannot be written")

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        if self.failing:
            raise AuditUnavailable("the audit trail cannot be written")
        if all(c.seq != checkpoint.seq for c in self.checkpoints):
            self.checkpoints.append(checkpoint)

    def latest_checkpoint(self) -> Checkpoint | None:
        return max(self.checkpoints, key=lambda c: c.seq, default=None)

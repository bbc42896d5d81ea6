"""Group commit: concurrent batches share one durable write, stay whole and in order, and fail closed together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from mais_node.audit.group import GroupCommit
from mais_node.audit.memory import MemoryAuditLog
from mais_node.audit.port import AuditRecord, Event
from mais_node.audit.verify import verify
from mais_node.errors import AuditUnavailable
from mais_node.storage.sqlite_audit import SqliteAuditLog
from tests.unit.audit.audit_builders import decision_event


class Gated:
    """A sink that holds its first write until released, so later batches queue up behind it."""

    def __init__(self, log: MemoryAuditLog) -> None:
        self.log = log
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_with: Exception | None = None

    def append(self, event: Event) -> AuditRecord:
        return self.append_many([event])[-1]

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        self.calls.append(len(events))
        self.entered.set()
        assert self.release.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        return self.log.append_many(events)


def batch(org: str, n: int) -> list[Event]:
    return [decision_event(org=org) for _ in range(n)]


def orgs(records: Sequence[AuditRecord]) -> list[str]:
    return [r.event["agent"][2]["who"]["identifier"]["value"] for r in records]


def test_batches_queued_during_a_write_share_the_next_one(log: MemoryAuditLog) -> None:
    sink = Gated(log)
    group = GroupCommit(sink)
    first = group.submit(batch("A1", 2))
    assert sink.entered.wait(10)
    later = [group.submit(batch(f"B{n}", 3)) for n in range(4)]
    sink.release.set()
    assert len(first.result(10)) == 2
    results = [f.result(10) for f in later]
    group.close()
    assert sink.calls == [2, 12]  # the four queued batches went in one write
    assert group.groups == 2
    for n, records in enumerate(results):
        assert orgs(records) == [f"B{n}"] * 3  # each submitter gets exactly its own records, in order
    seqs = [r.seq for records in results for r in records]
    assert seqs == list(range(3, 15))  # contiguous, in submission order, after the first batch
    assert verify(log.scan()).ok


def test_a_failed_write_fails_every_batch_of_its_group(log: MemoryAuditLog) -> None:
    sink = Gated(log)
    sink.fail_with = AuditUnavailable("disk full")
    group = GroupCommit(sink)
    futures = [group.submit(batch("A1", 1)) for _ in range(3)]
    sink.release.set()
    for future in futures:
        with pytest.raises(AuditUnavailable, match="disk full"):
            future.result(10)
    group.close()
    assert log.records == []


def test_an_unexpected_error_becomes_audit_unavailable_without_its_details(log: MemoryAuditLog) -> None:
    sink = Gated(log)
    sink.fail_with = RuntimeError("secret internals at /var/lib/node.db")
    sink.release.set()
    group = GroupCommit(sink)
    with pytest.raises(AuditUnavailable) as refused:
        group.append_many(batch("A1", 2))
    assert "internals" not in refused.value.diagnostics
    group.close()


def test_close_writes_what_is_queued_then_refuses(log: MemoryAuditLog) -> None:
    sink = Gated(log)
    group = GroupCommit(sink)
    queued = [group.submit(batch("A1", 1)) for _ in range(5)]
    sink.release.set()
    group.close()
    assert all(len(f.result(0)) == 1 for f in queued)
    assert len(log.records) == 5
    with pytest.raises(AuditUnavailable, match="closed"):
        group.submit(batch("A1", 1)).result(0)


def test_concurrent_enquiries_on_the_event_loop_share_commits_on_sqlite(tmp_path: Path) -> None:
    trail = SqliteAuditLog(tmp_path / "node.db")
    group = GroupCommit(trail)

    async def enquiry(n: int) -> list[AuditRecord]:
        await asyncio.sleep(0)
        return await group.write(batch(f"O{n}", 4))

    async def many() -> list[list[AuditRecord]]:
        return await asyncio.gather(*(enquiry(n) for n in range(60)))

    answered = asyncio.run(many())
    group.close()
    stored = list(trail.scan())
    trail.close()
    assert verify(stored).ok
    assert len(stored) == 240
    for n, records in enumerate(answered):
        assert orgs(records) == [f"O{n}"] * 4
        assert [r.seq for r in records] == list(range(records[0].seq, records[0].seq + 4))  # kept together
        assert [s.hash for s in stored[records[0].seq - 1 : records[-1].seq]] == [r.hash for r in records]
    assert group.groups < 60  # at least some enquiries shared a commit

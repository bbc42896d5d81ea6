"""The audit writer's per-record work made cheaper (issue 17 second pass) stores exactly the same bytes: one enquiry's
records built with shared agents (``balp.shared_parts``) and written with the agents' index keys reused give the same
rows, hashes and index keys, byte for byte, as records built and written one by one; a trail written half each way
verifies."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from mais_node.audit import balp
from mais_node.audit.chain import format_instant
from mais_node.audit.index import index_keys
from mais_node.audit.port import Event
from mais_node.audit.verify import verify
from mais_node.clock import FixedClock
from mais_node.storage.sqlite_audit import SqliteAuditLog
from tests.unit.audit.audit_builders import T0
from tests.unit.audit.test_balp_shared_parts import _enquiry_records


def _enquiries(n: int, *, shared: bool) -> list[Event]:
    events: list[Event] = []
    for _ in range(n):
        if shared:
            with balp.shared_parts():
                events += _enquiry_records()
        else:
            events += _enquiry_records()
    return events


def _rows(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        log = conn.execute("SELECT seq, prev_hash, hash, recorded, event FROM audit_log ORDER BY seq").fetchall()
        index = conn.execute("SELECT param, value, recorded, seq FROM audit_index ORDER BY 1, 2, 3, 4").fetchall()
    return log, index


def test_shared_agents_store_the_same_rows_and_index_keys_byte_for_byte(tmp_path: Path) -> None:
    written = {}
    for shared in (False, True):
        path = tmp_path / f"shared-{shared}.db"
        log = SqliteAuditLog(path, clock=FixedClock(T0))
        log.append_many(_enquiries(3, shared=shared))  # one group commit: three enquiries' records together
        log.close()
        written[shared] = _rows(path)
    assert written[True] == written[False]
    assert len(written[True][0]) == 15
    assert len(written[True][1]) > 15


def test_a_trail_written_one_way_then_the_other_verifies(tmp_path: Path) -> None:
    log = SqliteAuditLog(tmp_path / "trail.db", clock=FixedClock(T0))
    log.append_many(_enquiries(2, shared=False))
    log.append_many(_enquiries(2, shared=True))
    log.append_many(_enquiries(1, shared=False))
    report = verify(log.scan())
    log.close()
    assert report.ok, str(report)
    assert report.records == 25


def test_index_keys_with_the_agents_seen_are_the_keys_without() -> None:
    with balp.shared_parts():
        events = _enquiry_records()
    seen: dict[int, set[tuple[str, str]]] = {}
    assert [index_keys(e, seen) for e in events] == [index_keys(e) for e in events]
    assert len(seen) == 3  # received, the three decisions (one list), the disclosure
    first, second = index_keys(events[1], seen), index_keys(events[2], seen)
    first.add(("agent", "changed"))
    assert ("agent", "changed") not in second  # each event gets its own set


def test_format_instant_gives_the_same_text_however_the_time_is_given() -> None:
    later = T0 + timedelta(microseconds=7)
    in_paris = later.astimezone(timezone(timedelta(hours=1)))
    assert format_instant(later) == "2026-03-01T09:00:00.000007+00:00"
    assert format_instant(in_paris) == format_instant(later)
    assert format_instant(later) == format_instant(later)  # kept: the same text again
    naive = datetime(2026, 3, 1, 9, 0)  # a naive time is read in the local zone, as before
    assert format_instant(naive) == naive.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

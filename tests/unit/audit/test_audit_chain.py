"""The hash chain (DESIGN §7): how a record is sealed, and the in-memory log that the fast tests stand on."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from mais_node.audit.chain import GENESIS, canonical_json, chain_hash
from mais_node.audit.memory import MemoryAuditLog
from mais_node.clock import FixedClock
from mais_node.errors import AuditUnavailable
from tests.unit.audit.audit_builders import T0, decision_event


def test_canonical_json_sorts_keys_without_whitespace_in_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"d": "é", "c": [1, 2]}}) == '{"a":{"c":[1,2],"d":"é"},"b":1}'.encode()


def test_hash_is_sha256_of_seq_prev_hash_and_event() -> None:
    event = {"resourceType": "AuditEvent", "id": "1"}
    expected = json.dumps(
        {"event": event, "prev_hash": GENESIS, "seq": 1}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert chain_hash(1, GENESIS, event) == hashlib.sha256(expected.encode()).hexdigest()


def test_first_record_links_to_genesis_and_the_next_links_to_it(log: MemoryAuditLog) -> None:
    first = log.append(decision_event())
    second = log.append(decision_event())
    assert (first.seq, first.prev_hash) == (1, "0" * 64)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.hash == chain_hash(1, GENESIS, first.event)


def test_sealed_event_takes_its_seq_as_id_and_a_normalised_recorded_time(log: MemoryAuditLog) -> None:
    event = decision_event() | {"recorded": "2026-03-01T10:00:00+01:00"}
    record = log.append(event)
    assert record.event["id"] == "1"
    assert record.event["recorded"] == "2026-03-01T09:00:00.000000+00:00"
    assert record.recorded == T0
    assert "id" not in event, "the caller's event is not modified"


def test_an_event_without_recorded_time_is_stamped_by_the_clock(clock: FixedClock) -> None:
    clock.advance(hours=2)
    log = MemoryAuditLog(clock)
    event = decision_event()
    del event["recorded"]
    assert log.append(event).recorded == T0 + timedelta(hours=2)


def test_last_and_scan_follow_sequence_order(log: MemoryAuditLog) -> None:
    assert log.last() is None
    for _ in range(5):
        log.append(decision_event())
    assert [r.seq for r in log.scan(3)] == [3, 4, 5]
    last = log.last()
    assert last is not None
    assert last.seq == 5


def test_a_failing_log_refuses_to_append_and_keeps_nothing(log: MemoryAuditLog) -> None:
    log.failing = True
    with pytest.raises(AuditUnavailable):
        log.append(decision_event())
    assert log.last() is None

"""Refused authentication attempts counted per source address: recorded up to the limit, the crossing one recorded
with a note and answered 429, the rest answered 429 unrecorded; a fresh count every window."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from mais_node.auth.ratelimit import RateLimitPolicy
from mais_node.auth.refusals import RefusalThrottle, Verdict
from mais_node.clock import FixedClock

T0 = datetime(2026, 11, 26, 9, 30, 15, tzinfo=UTC)  # 15 s into a one-minute window


def throttle(limit: int = 3) -> tuple[RefusalThrottle, FixedClock]:
    clock = FixedClock(T0)
    return RefusalThrottle(clock, RateLimitPolicy(limit, 60)), clock


def test_up_to_the_limit_recorded_then_one_trip_then_quiet() -> None:
    refusals, _ = throttle(3)
    verdicts = [refusals.refused("10.0.0.1").verdict for _ in range(6)]
    assert verdicts == [Verdict.RECORD] * 3 + [Verdict.TRIP] + [Verdict.QUIET] * 2
    trip = RefusalThrottle(FixedClock(T0), RateLimitPolicy(1, 60))
    trip.refused("a")
    crossing = trip.refused("a")
    assert (crossing.throttled, crossing.recorded, crossing.retry_after) == (True, True, 45)
    assert crossing.note("invalid_client: bad signature") == (
        "invalid_client: bad signature (too many refused requests from this address: throttled for 45 s)"
    )
    quiet = trip.refused("a")
    assert (quiet.throttled, quiet.recorded) == (True, False)


def test_each_address_has_its_own_count_and_an_unknown_address_is_one_address() -> None:
    refusals, _ = throttle(1)
    assert refusals.refused("10.0.0.1").verdict is Verdict.RECORD
    assert refusals.refused("10.0.0.2").verdict is Verdict.RECORD
    assert refusals.refused(None).verdict is Verdict.RECORD
    assert refusals.refused(None).verdict is Verdict.TRIP
    assert refusals.refused("10.0.0.1").verdict is Verdict.TRIP


def test_a_new_window_starts_a_new_count_and_forgets_the_old_addresses() -> None:
    refusals, clock = throttle(1)
    for _ in range(3):
        refusals.refused("10.0.0.1")
    clock.advance(seconds=45)
    again = refusals.refused("10.0.0.1")
    assert (again.verdict, again.retry_after) == (Verdict.RECORD, 60)
    assert refusals._counts == {"10.0.0.1": 1}  # memory bounded by the addresses of one window


def test_a_limit_of_zero_turns_the_throttle_off() -> None:
    refusals, _ = throttle(0)
    assert {refusals.refused("10.0.0.1").verdict for _ in range(100)} == {Verdict.RECORD}


def test_the_operator_is_told_once_when_an_address_is_throttled(caplog: pytest.LogCaptureFixture) -> None:
    refusals, _ = throttle(1)
    with caplog.at_level(logging.WARNING, logger="mais_node.auth"):
        for _ in range(4):
            refusals.refused("10.0.0.9")
    assert [r.getMessage() for r in caplog.records] == [
        "address 10.0.0.9 throttled for 45 s: more than 1 refused token requests or bearer tokens in 60 s"
    ]

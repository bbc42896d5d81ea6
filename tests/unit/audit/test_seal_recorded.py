"""``seal`` keeps a ``recorded`` already in the builders' form as it is (issue 17, the enquiry's cost): the record it
seals must be the one the rule "recorded normalised to UTC with microseconds" gives, whatever form it came in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mais_node.audit.chain import chain_hash, format_instant, parse_instant, seal
from mais_node.clock import FixedClock

NOW = datetime(2026, 12, 3, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "given",
    [
        "2026-12-03T11:59:58.000001+00:00",  # the builders' form: kept
        "2026-12-03T11:59:58+00:00",  # no fraction
        "2026-12-03T11:59:58.5Z",  # Z, a short fraction
        "2026-12-03T13:59:58.000001+02:00",  # another offset: to UTC
        "2026-12-03T11:59:58.000001",  # no offset: read as UTC
        "1999-01-01T00:00:00.000000+00:00",
    ],
)
def test_recorded_is_normalised_the_same_whatever_form_it_came_in(given: str) -> None:
    expected_text = format_instant(parse_instant(given))
    record = seal({"resourceType": "AuditEvent", "recorded": given}, 7, "a" * 64, FixedClock(NOW))
    assert record.event["recorded"] == expected_text
    assert record.recorded == parse_instant(expected_text)
    assert record.recorded.tzinfo is not None
    assert record.hash == chain_hash(7, "a" * 64, {"resourceType": "AuditEvent", "recorded": expected_text, "id": "7"})


def test_an_event_without_recorded_is_stamped_with_the_clock() -> None:
    record = seal({"resourceType": "AuditEvent"}, 1, "0" * 64, FixedClock(NOW))
    assert record.event["recorded"] == "2026-12-03T12:00:00.123456+00:00"
    assert record.recorded == NOW


def test_a_recorded_that_is_not_an_instant_is_still_refused() -> None:
    event = {"resourceType": "AuditEvent", "recorded": "2026-13-03T11:59:58.000001+00:00"}  # the builders' form
    with pytest.raises(ValueError, match="month"):
        seal(event, 1, "0" * 64, FixedClock(NOW))

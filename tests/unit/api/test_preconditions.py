"""The HTTP date of Last-Modified (RFC 7231 §7.1.1.1) is the one ``email.utils`` writes, at every instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from mais_node.api.preconditions import http_date


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30)))
def test_http_date_is_the_imf_fixdate_email_utils_writes(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert http_date(moment) == format_datetime(aware, usegmt=True)
    assert http_date(aware.astimezone(timezone(timedelta(hours=5, minutes=30)))) == format_datetime(aware, usegmt=True)

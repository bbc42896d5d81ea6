"""FHIR date, dateTime and instant values as half-open UTC ranges (R4 §3.1.1.4.2 date search)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from mais_node.errors import InvalidRequest

_DATE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)

_FIRST = "0001-01-01T00:00:00.000000"
_LAST = "9999-12-31T23:59:59.999999"


def render(moment: datetime) -> str:
    """Normalised sortable text of an instant: UTC, microseconds, no offset."""
    # isoformat, not strftime("%Y"): glibc writes year 203 as "203", which sorts after "1990".
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    return moment.replace(year=moment.year + index // 12, month=index % 12 + 1)


def date_range(text: str) -> tuple[str, str]:
    """The instant range [lo, hi) a FHIR date/dateTime/instant value covers, at its own precision."""
    if len(text) == 10:  # a date: a population's birth dates repeat (a few tens of thousands of days), remembered
        return _day_range(text)
    return _any_range(text)


@lru_cache(maxsize=1 << 16)
def _day_range(text: str) -> tuple[str, str]:
    return _any_range(text)


def _any_range(text: str) -> tuple[str, str]:
    match = _DATE.match(text)
    if not match:
        raise InvalidRequest(f"'{text[:40]}' is not a valid FHIR date")
    try:
        return _range(match.groupdict())
    except (ValueError, OverflowError) as exc:
        # Month 13, day 45, an offset of +99:99.
        raise InvalidRequest(f"'{text[:40]}' is not a valid FHIR date") from exc


def _range(g: dict[str, str | None]) -> tuple[str, str]:
    tz = g["tz"]
    tzinfo = UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    start = datetime(
        int(g["y"] or 0),
        int(g["m"] or 1),
        int(g["d"] or 1),
        int(g["H"] or 0),
        int(g["M"] or 0),
        int(g["S"] or 0),
        int(float(g["f"]) * 1_000_000) if g["f"] else 0,
        tzinfo=tzinfo,
    )
    # 9999-12-31 is a valid date: a range that would leave years 1-9999 in UTC is held at the edge.
    edge = _FIRST if start.year == 1 else _LAST
    try:
        lo = render(start)
    except (ValueError, OverflowError):
        lo = edge
    try:
        hi = render(_end(start, g))
    except (ValueError, OverflowError):
        hi = edge
    return lo, hi


def _end(start: datetime, g: dict[str, str | None]) -> datetime:
    if g["m"] is None:
        return start.replace(year=start.year + 1)
    if g["d"] is None:
        return _add_months(start, 1)
    if g["H"] is None:
        return start + timedelta(days=1)
    if g["S"] is None:
        return start + timedelta(minutes=1)
    if g["f"] is None:
        return start + timedelta(seconds=1)
    return start + timedelta(microseconds=1)

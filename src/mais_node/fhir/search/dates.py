"""FHIR date, dateTime and instant values as half-open UTC ranges (R4 §3.1.1.4.2 date search)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from mais_node.errors import InvalidRequest

_DATE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)

_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def render(moment: datetime) -> str:
    """Normalised sortable text of an instant: UTC, microseconds, no offset."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    return moment.replace(year=moment.year + index // 12, month=index % 12 + 1)


def date_range(text: str) -> tuple[str, str]:
    """The instant range [lo, hi) a FHIR date/dateTime/instant value covers, at its own precision."""
    match = _DATE.match(text)
    if not match:
        raise InvalidRequest(f"'{text[:40]}' is not a valid FHIR date")
    g = match.groupdict()
    tz = g["tz"]
    tzinfo = UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tzinfo = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    try:
        start = datetime(
            int(g["y"]),
            int(g["m"] or 1),
            int(g["d"] or 1),
            int(g["H"] or 0),
            int(g["M"] or 0),
            int(g["S"] or 0),
            int(float(g["f"]) * 1_000_000) if g["f"] else 0,
            tzinfo=tzinfo,
        )
    except ValueError as exc:
        raise InvalidRequest(f"'{text[:40]}' is not a valid FHIR date") from exc
    if g["m"] is None:
        end = start.replace(year=start.year + 1)
    elif g["d"] is None:
        end = _add_months(start, 1)
    elif g["H"] is None:
        end = start + timedelta(days=1)
    elif g["S"] is None:
        end = start + timedelta(minutes=1)
    elif g["f"] is None:
        end = start + timedelta(seconds=1)
    else:
        end = start + timedelta(microseconds=1)
    return render(start), render(end)

"""HTTP validators and preferences on the FHIR interactions (R4 §3.1.0.8 and §3.1.0.1.9; RFC 7232).

ETag and Last-Modified on every resource answer, a 304 for a conditional read that would return what the client
already holds, If-Match as a version precondition, and ``Prefer: return`` for the body of a write.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from mais_node.api.media import fhir_response, raw_response
from mais_node.errors import InvalidRequest
from mais_node.fhir.outcome import information
from mais_node.fhir.search.parse import is_small_int
from mais_node.storage.port import Stored

_RETURNS = ("minimal", "representation", "operationoutcome")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _modified(stored: Stored) -> datetime:
    return datetime.fromisoformat(stored.last_updated).replace(tzinfo=UTC)


def http_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate; a naive ``moment`` is UTC (as the store's instants are). Written out rather than
    with ``email.utils.format_datetime`` (measured 5-8 µs against 2-3 µs, on every read), and rather than
    ``strftime``, whose day and month names follow the locale."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


def validators(stored: Stored) -> dict[str, str]:
    """ETag (the version, weak) and Last-Modified as an HTTP date (RFC 7231 §7.1.1.1), not an ISO 8601 instant."""
    return {"ETag": f'W/"{stored.version}"', "Last-Modified": http_date(datetime.fromisoformat(stored.last_updated))}


def version_header(value: str | None, name: str = "If-Match") -> int | None:
    if value is None:
        return None
    digits = value.strip().removeprefix("W/").strip('"')
    if not is_small_int(digits):
        raise InvalidRequest(f'{name} must be a version ETag such as W/"3"', expression=(name,))
    return int(digits)


def not_modified(request: Request, stored: Stored) -> Response | None:
    """304 when If-None-Match names the current version (or ``*``), or, without it, If-Modified-Since is not
    older than the last change (RFC 7232 §6: If-None-Match wins)."""
    headers = validators(stored)
    none_match = request.headers.get("if-none-match")
    if none_match is not None:
        tags = {t.strip().removeprefix("W/").strip('"') for t in none_match.split(",")}
        return Response(status_code=304, headers=headers) if tags & {str(stored.version), "*"} else None
    since = request.headers.get("if-modified-since")
    if since is None:
        return None
    try:
        moment = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return None  # RFC 7232 §3.3: an invalid date is ignored
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # HTTP dates have whole seconds: a change within the second named is not newer than it.
    if _modified(stored).replace(microsecond=0) <= moment:
        return Response(status_code=304, headers=headers)
    return None


def prefer_return(request: Request) -> str:
    """``Prefer: return=minimal | representation | OperationOutcome`` (R4 §3.1.0.1.9); representation by default."""
    for part in request.headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"').lower() in _RETURNS:
            return value.strip().strip('"').lower()
    return "representation"


def written(request: Request, stored: Stored, status: int, headers: dict[str, str], message: str) -> Response:
    """The answer to a write, with the body the client preferred."""
    preference = prefer_return(request)
    if preference == "minimal":
        return Response(status_code=status, headers=headers)
    if preference == "operationoutcome":
        return fhir_response(information(message), status, headers)
    return raw_response(stored.json, status, headers)

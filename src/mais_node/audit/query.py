"""Auditor search over the trail: the R4 AuditEvent search parameters (FHIR R4 §auditevent-search, DESIGN §7).

Supported: ``date`` (eq, ge, gt, le, lt; any precision; no zone means UTC), ``agent``, ``agent-name`` (case-
insensitive prefix), ``agent-role``, ``entity``, ``entity-type``, ``entity-role``, ``patient``, ``policy``,
``type``, ``subtype``, ``outcome``, ``action``, ``source``, ``site``, ``address`` and ``purpose``
(agent.purposeOfUse); comma = OR, repeated parameter = AND. ``_sort=date|-date`` (default ``date``),
``_count`` 1..1000 (default 50), ``_cursor`` the opaque keyset cursor of the previous page (by recorded time,
then seq).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from mais_node.audit.chain import to_micros
from mais_node.audit.index import INDEXED, index_key, search_values
from mais_node.audit.port import AuditPage, AuditRecord, Event
from mais_node.errors import InvalidRequest, UnknownSearchParameter

TOKEN_PARAMS = frozenset(
    {"agent", "agent-name", "agent-role", "entity", "entity-type", "entity-role", "patient", "policy", "type"}
    | {"subtype", "outcome", "action", "source", "site", "address", "purpose"}
)
# What the CapabilityStatement declares for AuditEvent: the same parameters this parser accepts.
AUDIT_SEARCH_PARAMS: tuple[tuple[str, str], ...] = (
    ("date", "date"),
    ("agent-name", "string"),
    *(
        (name, "reference" if name in ("agent", "entity", "patient") else "token")
        for name in sorted(TOKEN_PARAMS - {"agent-name"})
    ),
)
IGNORED = frozenset({"_format", "_pretty"})  # presentation only: they never change which records match
MAX_COUNT = 1000
_TIME = r"T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"
_DATE = re.compile(rf"^(eq|ge|gt|le|lt)?(\d{{4}}(?:-\d{{2}}(?:-\d{{2}}(?:{_TIME})?)?)?)$")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()  # AND of (parameter, any of these values)
    descending: bool = False
    count: int = 50
    after: tuple[int, int] | None = None  # (recorded µs, seq) of the last record of the previous page

    def matches(self, event: Event) -> bool:
        """Whether ``event`` satisfies every parameter (date and keyset bounds are the store's job)."""
        values = search_values(event)
        for param, wanted in self.params:
            have = values.get(param, set())
            if param == "agent-name":
                if not any(name.startswith(w.lower()) for w in wanted for name in have):
                    return False
            elif have.isdisjoint(wanted):
                return False
        return True

    def driver(self) -> tuple[str, tuple[str, ...]] | None:
        """The indexed parameter whose keys find candidates (most selective first); None: scan by date."""
        for name in INDEXED:
            for param, wanted in self.params:
                keys = [index_key(param, w) for w in wanted]
                if param == name and all(keys):
                    return param, tuple(sorted({k for k in keys if k}))
        return None


def encode_cursor(record: AuditRecord) -> str:
    return base64.urlsafe_b64encode(f"{to_micros(record.recorded)}.{record.seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        micros, seq = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(".")
        return int(micros), int(seq)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidRequest("_cursor is not a cursor this server issued", expression=["_cursor"]) from exc


def page_of(candidates: Iterable[AuditRecord], query: AuditQuery) -> AuditPage:
    """The first ``count`` matching candidates (given in sort order, within the date and keyset bounds)."""
    records: list[AuditRecord] = []
    for record in candidates:
        if records and records[-1].seq == record.seq:
            continue  # one record found through two of its index keys
        if query.matches(record.event):
            if len(records) == query.count:
                return AuditPage(records, encode_cursor(records[-1]))
            records.append(record)
    return AuditPage(records)


def _period(text: str) -> tuple[datetime, datetime]:
    """The interval [start, end) a FHIR date of any precision stands for."""
    if "T" in text:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        clock = re.split(r"[Z+-]", text.split("T")[1])[0]
        step = {1: timedelta(minutes=1), 2: timedelta(seconds=1)}[clock.count(":")]
        return at, at + (timedelta(microseconds=1) if "." in clock else step)
    parts = [int(p) for p in text.split("-")]
    start = datetime(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1, tzinfo=UTC)
    if len(parts) == 3:
        return start, start + timedelta(days=1)
    if len(parts) == 2:
        return start, start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start, start.replace(year=start.year + 1)


def _date_bounds(query: AuditQuery, value: str) -> AuditQuery:
    found = _DATE.match(value)
    if not found:
        raise InvalidRequest(f"date '{value}' is not a FHIR date with eq/ge/gt/le/lt", expression=["date"])
    try:
        start, end = _period(found.group(2))
    except ValueError as exc:
        raise InvalidRequest(f"date '{value}' is not a valid date", expression=["date"]) from exc
    prefix = found.group(1) or "eq"
    since = {"eq": start, "ge": start, "gt": end}.get(prefix)
    until = {"eq": end, "le": end, "lt": start}.get(prefix)
    if since is not None and (query.since is None or since > query.since):
        query = replace(query, since=since)
    if until is not None and (query.until is None or until < query.until):
        query = replace(query, until=until)
    return query


def _count(value: str) -> int:
    # ASCII digits only, and short: str.isdigit() alone takes '²', and int() of thousands of digits raises.
    if not (0 < len(value) <= 6 and value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_COUNT:
        raise InvalidRequest(f"_count must be a whole number from 1 to {MAX_COUNT}", expression=["_count"])
    return int(value)


def parse_audit_query(pairs: Iterable[tuple[str, str]]) -> AuditQuery:
    """An AuditQuery from search parameters (name, value) as they came in the query string or form body."""
    query, params = AuditQuery(), []
    for name, value in pairs:
        if name == "date":
            query = _date_bounds(query, value)
        elif name in TOKEN_PARAMS:
            wanted = tuple(v for v in value.split(",") if v)
            if not wanted:
                raise InvalidRequest(f"{name} needs a value", expression=[name])
            params.append((name, wanted))
        elif name == "_sort":
            if value not in ("date", "-date"):
                raise InvalidRequest("_sort must be date or -date", expression=["_sort"])
            query = replace(query, descending=value == "-date")
        elif name == "_count":
            query = replace(query, count=_count(value))
        elif name == "_cursor":
            query = replace(query, after=decode_cursor(value))
        elif name not in IGNORED:
            raise UnknownSearchParameter(f"AuditEvent has no search parameter '{name}'", expression=[name])
    return replace(query, params=tuple(params))

"""Auditor search over the trail: the R4 AuditEvent search parameters (FHIR R4 §auditevent-search) with the
common search semantics of R4 §3.1.1 (modifiers, prefixes, comma = OR, repeated parameter = AND).

``PARAMS`` is the one table of what is searchable and how R4 types it; the CapabilityStatement is generated from
it. Dates (``date``, ``_lastUpdated``: both are ``recorded``, the record's only version) take every R4 prefix (eq
ne gt lt ge le sa eb ap; any precision; no zone means UTC). References (``agent``, ``entity``, ``patient``,
``source``) match a reference, a bare or absolute id, or an identifier value, and ``:identifier`` takes
``system|value``. Strings match from the start, case- and accent-insensitively (``:exact``, ``:contains``).
Tokens take ``:not``; every parameter ``:missing``. ``_sort=date|-date`` (default ``date``), ``_cursor`` the opaque
keyset cursor of the previous page (by recorded time, then seq).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from mais_node.audit.chain import to_micros
from mais_node.audit.index import INDEXED, index_key, search_values
from mais_node.audit.port import AuditPage, AuditRecord, Event
from mais_node.errors import InvalidRequest, UnknownSearchParameter
from mais_node.fhir.search.text import normalise

# Every AuditEvent search parameter of R4, with its R4 type, and the two common ones the node serves.
PARAMS: dict[str, str] = {
    "action": "token",
    "address": "string",
    "agent": "reference",
    "agent-name": "string",
    "agent-role": "token",
    "altid": "token",
    "date": "date",
    "entity": "reference",
    "entity-name": "string",
    "entity-role": "token",
    "entity-type": "token",
    "outcome": "token",
    "patient": "reference",
    "policy": "uri",
    "site": "token",
    "source": "reference",
    "subtype": "token",
    "type": "token",
    "purpose": "token",
    "_id": "token",
    "_lastUpdated": "date",
}
AUDIT_SEARCH_PARAMS: tuple[tuple[str, str], ...] = tuple(PARAMS.items())
SILENT = frozenset({"_format", "_pretty"})  # presentation only: they never change which records match
MAX_COUNT = 1000
DEFAULT_COUNT = 50
_MODIFIERS = {
    "string": {"", "exact", "contains", "missing"},
    "token": {"", "not", "missing"},
    "reference": {"", "identifier", "missing"},
    "uri": {"", "below", "missing"},
    "date": {"", "missing"},
}
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_ABSOLUTE = re.compile(r"^https?://.*/([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_TIME = r"T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"
_DATE = re.compile(rf"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{{4}}(?:-\d{{2}}(?:-\d{{2}}(?:{_TIME})?)?)?)$")
Mode = Literal["equals", "starts", "contains", "exact", "below"]


@dataclass(frozen=True, slots=True)
class Criterion:
    """One search parameter: the values bucket it reads, any of ``wanted``, how it compares."""

    bucket: str
    wanted: tuple[str, ...] = ()
    mode: Mode = "equals"
    negate: bool = False
    missing: bool | None = None

    def holds(self, values: dict[str, set[str]]) -> bool:
        have = values.get(self.bucket, set())
        if self.missing is not None:
            return not have if self.missing else bool(have)
        if self.mode == "equals":
            hit = not have.isdisjoint(self.wanted)
        elif self.mode == "below":
            hit = any(h == w or h.startswith(w.rstrip("/") + "/") for w in self.wanted for h in have)
        elif self.mode == "exact":
            hit = any(h in self.wanted for h in have)
        else:
            names = [normalise(h) for h in have]
            if self.mode == "starts":
                hit = any(n.startswith(w) for w in self.wanted for n in names)
            else:
                hit = any(w in n for w in self.wanted for n in names)
        return hit is not self.negate

    @property
    def indexable(self) -> bool:
        return self.mode == "equals" and not self.negate and self.missing is None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    criteria: tuple[Criterion, ...] = ()  # AND of criteria, each an OR of its values
    excluded: tuple[tuple[datetime, datetime], ...] = ()  # ``ne``: [start, end) the record must fall outside
    descending: bool = False
    count: int = DEFAULT_COUNT
    after: tuple[int, int] | None = None  # (recorded µs, seq) of the last record of the previous page

    def matches(self, event: Event) -> bool:
        """Whether ``event`` satisfies every parameter (date and keyset bounds are the store's job)."""
        if not self.criteria:
            return True
        values = search_values(event, frozenset(c.bucket for c in self.criteria))
        return all(criterion.holds(values) for criterion in self.criteria)

    def accepts(self, record: AuditRecord) -> bool:
        """``matches``, and outside every ``ne`` interval."""
        if any(start <= record.recorded < end for start, end in self.excluded):
            return False
        return self.matches(record.event)

    def driver(self) -> tuple[str, tuple[str, ...]] | None:
        """The indexed parameter whose keys find candidates (most selective first); None: scan by date."""
        for name in INDEXED:
            for criterion in self.criteria:
                if criterion.bucket.partition(":")[0] != name or not criterion.indexable:
                    continue
                keys = [index_key(name, w) for w in criterion.wanted]
                if all(keys):
                    return name, tuple(sorted({k for k in keys if k}))
        return None

    def counted_by_index(self) -> tuple[str, tuple[str, ...]] | None:
        """The index keys whose rows, in the date window, are exactly the matches (one equals criterion on an
        indexed parameter, no ``ne``); None when records must be read to know. ``("", ())``: every record does."""
        if self.excluded:
            return None
        if not self.criteria:
            return "", ()
        driver = self.driver()
        if len(self.criteria) > 1 or driver is None or self.criteria[0].bucket != driver[0]:
            return None
        return driver if all(w == index_key(driver[0], w) for w in self.criteria[0].wanted) else None

    def ids(self) -> tuple[int, ...] | None:
        """The seqs a positive ``_id`` names (the records to read directly), or None when it names none."""
        for criterion in self.criteria:
            if criterion.bucket == "_id" and criterion.indexable:
                return tuple(sorted({int(w) for w in criterion.wanted if w.isascii() and w.isdigit() and len(w) < 19}))
        return None


@dataclass(slots=True)
class AuditSearch:
    """An auditor's search as asked: the query for the store, and how the Bundle is to be presented."""

    query: AuditQuery
    used: list[tuple[str, str]] = field(default_factory=list)  # the parameters acted on (the self link)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was adjusted (a _count above the maximum)
    total: bool = False
    summary_count: bool = False
    elements: tuple[str, ...] = ()


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
    if query.count == 0:
        return AuditPage(records)
    for record in candidates:
        if records and records[-1].seq == record.seq:
            continue  # one record found through two of its index keys
        if query.accepts(record):
            if len(records) == query.count:
                return AuditPage(records, encode_cursor(records[-1]))
            records.append(record)
    return AuditPage(records)


def count_pages(search: Callable[[AuditQuery], AuditPage], query: AuditQuery) -> int:
    """How many records match, by reading every page of the query (when the index alone cannot say)."""
    counted, page_query = 0, replace(query, count=MAX_COUNT, after=None)
    while True:
        page = search(page_query)
        counted += len(page.records)
        if page.next_cursor is None:
            return counted
        page_query = replace(page_query, after=decode_cursor(page.next_cursor))


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


def _date_bounds(query: AuditQuery, name: str, value: str, now: datetime) -> AuditQuery:
    found = _DATE.match(value)
    if not found:
        raise InvalidRequest(
            f"{name} '{value[:40]}' is not a FHIR date (prefixes eq ne gt lt ge le sa eb ap)", expression=[name]
        )
    try:
        start, end = _period(found.group(2))
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest(f"{name} '{value[:40]}' is not a valid date", expression=[name]) from exc
    prefix = found.group(1) or "eq"
    if prefix == "ne":
        return replace(query, excluded=(*query.excluded, (start, end)))
    if prefix == "ap":  # R4 §3.1.1.4.2: 10% of the distance from now, and at least a day, either side
        slack = max(abs(now - start) * 0.1, timedelta(days=1))
        start, end, prefix = start - slack, end + slack, "eq"
    # An instant starts after the value when it is past its end (sa = gt) and ends before it when it is short of
    # its start (eb = lt).
    since = {"eq": start, "ge": start, "gt": end, "sa": end}.get(prefix)
    until = {"eq": end, "le": end, "lt": start, "eb": start}.get(prefix)
    if since is not None and (query.since is None or since > query.since):
        query = replace(query, since=since)
    if until is not None and (query.until is None or until < query.until):
        query = replace(query, until=until)
    return query


def _reference_values(param: str, modifier: str, value: str) -> tuple[str, ...]:
    """A reference search value as the trail holds it: ``Patient/id`` from an absolute URL, a typed or bare id."""
    absolute = _ABSOLUTE.match(value)
    if absolute:
        return (absolute.group(1),)
    if modifier and "/" not in value:
        return (f"{modifier}/{value}",)
    if param == "patient" and "/" not in value and "|" not in value:
        return value, f"Patient/{value}"  # a bare id, or the NHS number an enquiry named the person by
    return (value,)


def _criterion(key: str, raw: str) -> Criterion:
    name, _, modifier = key.partition(":")
    kind = PARAMS[name]
    allowed = _MODIFIERS[kind]
    if kind == "reference" and _RESOURCE_TYPE.match(modifier):
        allowed = allowed | {modifier}
    if modifier not in allowed:
        raise InvalidRequest(f"Modifier ':{modifier[:40]}' is not supported on '{name}'", expression=[key[:60]])
    bucket = "date" if kind == "date" else name
    if modifier == "missing":
        if raw not in ("true", "false"):
            raise InvalidRequest(f"'{name}:missing' takes true or false", expression=[key])
        return Criterion(bucket, missing=raw == "true")
    parts = [part for part in re.split(r"(?<!\\),", raw) if part]
    if not parts:
        raise InvalidRequest(f"{name} needs a value", expression=[key[:60]])
    parts = [part.replace("\\,", ",") for part in parts]
    if kind == "string":
        if modifier == "exact":
            return Criterion(bucket, tuple(parts), "exact")
        # A value that folds to nothing (punctuation, invisible characters) is kept as given: it matches nothing,
        # where the empty fold would be a prefix of every record.
        texts = tuple(normalise(p) or p for p in parts)
        return Criterion(bucket, texts, "contains" if modifier == "contains" else "starts")
    if kind == "reference":
        if modifier == "identifier":
            return Criterion(f"{name}:identifier", tuple(parts))
        return Criterion(bucket, tuple(v for p in parts for v in _reference_values(name, modifier, p)))
    if kind == "uri":
        return Criterion(bucket, tuple(parts), "below" if modifier == "below" else "equals")
    return Criterion(bucket, tuple(parts), negate=modifier == "not")


def _count(value: str, search: AuditSearch) -> int:
    # ASCII digits only, and short: str.isdigit() alone takes '²', and int() of thousands of digits raises.
    if not (0 < len(value) <= 18 and value.isascii() and value.isdigit()):
        raise InvalidRequest("_count must be a whole number (0 asks for the total only)", expression=["_count"])
    if int(value) > MAX_COUNT:  # R4 §3.1.1.5.4: the server may return fewer than asked, and says so
        search.notes.append(f"_count {int(value)} is above the maximum: pages hold at most {MAX_COUNT} records")
        return MAX_COUNT
    return int(value)


def _result_parameter(search: AuditSearch, name: str, value: str) -> bool:
    """Apply a result parameter (R4 §3.1.1.5); False when ``name`` is not one this search acts on."""
    query = search.query
    if name == "_sort":
        if value not in ("date", "-date", "_lastUpdated", "-_lastUpdated"):
            raise InvalidRequest("_sort must be date or -date (or _lastUpdated, the same time)", expression=["_sort"])
        search.query = replace(query, descending=value.startswith("-"))
    elif name == "_count":
        search.query = replace(query, count=_count(value, search))
    elif name == "_cursor":
        search.query = replace(query, after=decode_cursor(value))
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise InvalidRequest("_total must be none, estimate or accurate", expression=["_total"])
        search.total = value != "none"
    elif name == "_summary" and value in ("count", "false"):
        search.summary_count = value == "count"
    elif name == "_elements":
        search.elements = tuple(e for e in value.split(",") if e)
    else:
        return False
    return True


def parse_audit_search(
    pairs: Iterable[tuple[str, str]], *, strict: bool = False, now: datetime | None = None
) -> AuditSearch:
    """An auditor's search from the query-string (name, value) pairs: unknown parameters are ignored and reported,
    or refused under ``strict`` (``Prefer: handling=strict``)."""
    search, criteria = AuditSearch(AuditQuery()), []
    now = now or datetime.now(UTC)
    seen: set[str] = set()
    for key, value in pairs:
        name, _, modifier = key.partition(":")
        if name in SILENT:
            continue
        if name.startswith("_") and name not in PARAMS:  # a result parameter: "the last wins" is another search
            if name in seen:
                raise InvalidRequest(f"'{name[:40]}' may be given once", expression=[name[:60]])
            seen.add(name)
        if name in PARAMS:
            if PARAMS[name] == "date" and not modifier:
                search.query = _date_bounds(search.query, name, value, now)
            else:
                criteria.append(_criterion(key, value))
        elif not _result_parameter(search, name, value):
            ignored = key[:60] if name != "_summary" else f"_summary={value[:20]}"
            if strict:
                what = "is not supported on" if name.startswith("_") else "is not a search parameter of"
                raise UnknownSearchParameter(f"'{ignored}' {what} AuditEvent", expression=[key[:60]])
            search.ignored.append(ignored)
            continue
        # The self link says what was done: a capped _count as served.
        search.used.append((key, str(search.query.count) if name == "_count" else value))
    search.query = replace(search.query, criteria=tuple(criteria))
    return search


def parse_audit_query(pairs: Iterable[tuple[str, str]], *, now: datetime | None = None) -> AuditQuery:
    """The store's query for search parameters given in code: strict, so a misspelt parameter is an error."""
    return parse_audit_search(pairs, strict=True, now=now).query

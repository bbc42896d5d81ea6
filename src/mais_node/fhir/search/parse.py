"""Parse FHIR search parameters (R4 §3.1.1) into a store-neutral ``SearchRequest``.

Lenient by default: an unknown parameter is ignored and reported; with ``Prefer: handling=strict`` it is refused.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

import orjson

from mais_node.errors import InvalidRequest, Issue, UnknownSearchParameter
from mais_node.fhir.search.dates import date_range, render
from mais_node.fhir.search.params import DECLARED, SearchParam, params_for, sortable
from mais_node.fhir.search.query import (
    Criterion,
    DateValue,
    Include,
    Prefix,
    Query,
    ReferenceValue,
    SearchRequest,
    SortKey,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from mais_node.fhir.search.text import normalise

_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_RESULT_PARAMS = {
    "_count",
    "_sort",
    "_total",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
    "_cursor",
    "_format",
}
_REPEATABLE = {"_include", "_revinclude", "_format"}
_SPLIT = re.compile(r"(?<!\\),")
# A search is one bounded query: past these the store would refuse it (SQLite's expression depth), so 400 first.
MAX_VALUES = 100
MAX_SORT_KEYS = 8
MAX_INCLUDES = 8


def encode_cursor(values: tuple[str, ...]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str, ...]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidRequest("_cursor is not a cursor this server issued", expression=("_cursor",)) from exc
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRequest("_cursor is not a cursor this server issued", expression=("_cursor",))
    return tuple(values)


def _split(raw: str) -> list[str]:
    return [part.replace("\\,", ",") for part in _SPLIT.split(raw)]


def _approximately(lo: str, hi: str, now: datetime) -> tuple[str, str]:
    """``ap``: widen the range by 10% of its distance from now (R4 §3.1.1.4.2), at least one day."""
    start = datetime.fromisoformat(lo).replace(tzinfo=UTC)
    end = datetime.fromisoformat(hi).replace(tzinfo=UTC)
    slack = max(abs(now - start) * 0.1, timedelta(days=1))
    # Widened past year 1 or 9999 (``ap9999-12-31``), the range stops at the edge of the calendar.
    low = render(start - slack) if start - datetime.min.replace(tzinfo=UTC) > slack else "0001-01-01T00:00:00.000000"
    high = render(end + slack) if datetime.max.replace(tzinfo=UTC) - end > slack else "9999-12-31T23:59:59.999999"
    return low, high


def _values(param: SearchParam, modifier: str, raw: str, now: datetime, base: str) -> tuple[Value, ...]:
    """The stored values one search value matches (a reference to this server matches two forms)."""
    if param.type == "string":
        match = {"": "starts", "exact": "exact", "contains": "contains"}[modifier]
        # Only punctuation or invisible characters fold to nothing, a prefix of every value: searched as given
        # instead, they match nothing (no stored value keeps them), as ``family=.*`` always did.
        text = raw if match == "exact" else normalise(raw) or raw
        return (StringValue(text, match),)  # type: ignore[arg-type]
    if param.type == "token":
        if "|" in raw:
            system, _, code = raw.partition("|")
            # A code element is stored bare: its implicit system names it as well as no system does.
            return (TokenValue("" if system and system == param.system else system, code or None),)
        return (TokenValue(None, raw),)
    if param.type == "date":
        prefix = raw[:2] if raw[:2] in _PREFIXES and raw[2:3].isdigit() else "eq"
        lo, hi = date_range(raw[2:] if raw[:2] == prefix else raw)
        if prefix == "ap":
            lo, hi = _approximately(lo, hi, now)
        return (DateValue(cast(Prefix, prefix), lo, hi),)
    if param.type == "reference":
        return _references(modifier, raw, base)
    return (UriValue(raw),)


def _references(modifier: str, raw: str, base: str) -> tuple[Value, ...]:
    """R4 §3.1.1.4.5: ``Type/id``, a bare id, or an absolute URL; one to this server is the same as its relative
    form, so both forms are looked for (resources may hold either)."""
    if modifier and "/" not in raw:
        raw = f"{modifier}/{raw}"
    own = f"{base}/" if base else None
    if own and raw.startswith(own) and raw[len(own) :].count("/") == 1:
        return (ReferenceValue(raw[len(own) :]), ReferenceValue(raw))
    if own and raw.count("/") == 1 and "://" not in raw:
        return (ReferenceValue(raw), ReferenceValue(own + raw))
    return (ReferenceValue(raw),)


_MODIFIERS = {
    "string": {"", "exact", "contains", "missing"},
    "token": {"", "not", "missing"},
    "date": {"", "missing"},
    "reference": {"", "missing"},
    "uri": {"", "missing"},
}


def _criterion(param: SearchParam, modifier: str, raw: str, now: datetime, base: str) -> Criterion:
    allowed = _MODIFIERS[param.type] | (set(param.targets) if param.type == "reference" else set())
    if modifier not in allowed:
        raise InvalidRequest(
            f"Modifier ':{modifier[:40]}' is not supported on '{param.name}'", expression=(param.name,)
        )
    if modifier == "missing":
        if raw not in ("true", "false"):
            raise InvalidRequest(f"'{param.name}:missing' takes true or false", expression=(param.name,))
        return Criterion(param.name, missing=raw == "true")
    values = tuple(v for part in _split(raw) if part != "" for v in _values(param, modifier, part, now, base))
    if not values:
        raise InvalidRequest(f"Search parameter '{param.name}' has no value", expression=(param.name,))
    return Criterion(param.name, values, negate=modifier == "not")


def is_small_int(text: str) -> bool:
    """ASCII digits that fit a 64-bit integer: ``str.isdigit`` alone takes '²' (which ``int`` refuses)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def count_value(name: str, raw: str) -> int:
    """A non-negative integer parameter (``_count``), else 400 naming it."""
    if not is_small_int(raw):
        raise InvalidRequest(f"{name} must be a non-negative integer", expression=(name,))
    return int(raw)


def page_size(raw: str, maximum: int) -> tuple[int, str | None]:
    """``_count`` held to the server's maximum: R4 §3.1.1.5.4 lets a server return fewer than asked, and the
    warning saying so goes in the Bundle (a 400 would break a client that asks for 500 per page)."""
    asked = count_value("_count", raw)
    if asked <= maximum:
        return asked, None
    return maximum, (
        f"_count={asked} is more than this server's maximum page size of {maximum}: pages hold {maximum} "
        "resources; follow the next link for the rest"
    )


SUMMARY_VALUES = ("true", "text", "data", "count", "false")


def summary_value(raw: str) -> str:
    """``_summary`` (R4 §3.1.1.5.8): one of true, text, data, count, false; else 400 naming it."""
    if raw not in SUMMARY_VALUES:
        raise InvalidRequest(
            f"_summary must be one of {', '.join(SUMMARY_VALUES)}, not '{raw[:20]}'", expression=("_summary",)
        )
    return raw


def _too_costly(what: str, limit: int, name: str) -> InvalidRequest:
    diagnostics = f"A search may have at most {limit} {what}"
    return InvalidRequest(diagnostics, issues=[Issue(diagnostics, "too-costly", expression=(name,))])


def _check_cost(criteria: list[Criterion], sort: tuple[SortKey, ...], request: SearchRequest) -> None:
    if sum(max(1, len(c.values)) for c in criteria) > MAX_VALUES:
        raise _too_costly("search values", MAX_VALUES, criteria[-1].param)
    if len(sort) > MAX_SORT_KEYS:
        raise _too_costly("sort keys", MAX_SORT_KEYS, "_sort")
    if len(request.includes) > MAX_INCLUDES:
        raise _too_costly("_include and _revinclude parameters", MAX_INCLUDES, "_include")


def _sort(resource_type: str, raw: str) -> tuple[SortKey, ...]:
    params = params_for(resource_type)
    keys = []
    for part in raw.split(","):
        name = part.removeprefix("-")
        param = params.get(name)
        if param is None or not sortable(param):
            raise InvalidRequest(f"Cannot sort {resource_type} by '{name[:40]}'", expression=("_sort",))
        keys.append(SortKey(name, part.startswith("-")))
    return tuple(keys)


def _include(raw: str, reverse: bool) -> Include:
    parts = raw.split(":")
    name = "_revinclude" if reverse else "_include"
    if len(parts) not in (2, 3) or parts[0] not in DECLARED:
        raise InvalidRequest(f"{name} must be Type:parameter[:target]", expression=(name,))
    param = params_for(parts[0]).get(parts[1])
    if param is None or param.type != "reference":
        raise InvalidRequest(f"'{raw[:60]}' is not a reference parameter", expression=(name,))
    return Include(parts[0], parts[1], parts[2] if len(parts) == 3 else None, reverse)


def parse_search(
    resource_type: str,
    pairs: Iterable[tuple[str, str]],
    *,
    default_count: int = 20,
    max_count: int = 200,
    strict: bool = False,
    now: datetime | None = None,
    base: str = "",
) -> SearchRequest:
    """Turn the query-string pairs of ``GET [base]/[type]?…`` into a ``SearchRequest``.

    ``base`` is this server's FHIR base URL, so that a reference given as an absolute URL to it is found.
    """
    params = params_for(resource_type)
    criteria: list[Criterion] = []
    request = SearchRequest(Query(resource_type, count=default_count))
    count, sort, after, total = default_count, request.query.sort, None, False
    seen: set[str] = set()
    for key, raw in pairs:
        name, _, modifier = key.partition(":")
        if name in _RESULT_PARAMS:
            if name in seen and name not in _REPEATABLE:  # "the last wins" would answer another search
                raise InvalidRequest(f"'{name}' may be given once", expression=(name,))
            seen.add(name)
            if name == "_count":
                count, warning = page_size(raw, max_count)
                if warning:
                    request.warnings.append(warning)
                request.used.append((key, str(count)))
                continue
            if name == "_sort":
                sort = _sort(resource_type, raw)
            elif name == "_total":
                if raw not in ("none", "accurate", "estimate"):
                    raise InvalidRequest("_total must be none, estimate or accurate", expression=("_total",))
                total = raw != "none"
            elif name == "_summary":
                request.summary = summary_value(raw)
            elif name == "_elements":
                request.elements = tuple(e for e in raw.split(",") if e)
            elif name in ("_include", "_revinclude"):
                request.includes.append(_include(raw, name == "_revinclude"))
            elif name == "_cursor":
                after = decode_cursor(raw)
            request.used.append((key, raw))
            continue
        param = params.get(name)
        if param is None:
            if strict:
                raise UnknownSearchParameter(
                    f"Unknown search parameter '{name[:60]}' for {resource_type}", expression=(name[:60],)
                )
            request.ignored.append(name[:60])
            continue
        criteria.append(_criterion(param, modifier, raw, now or datetime.now(UTC), base))
        request.used.append((key, raw))
    _check_cost(criteria, sort, request)
    if request.summary_count:
        count = 0
    # A page of none is asked for its total (fhirpy's count() sends _count=0): R4 §3.1.1.5.4.
    total = total or count == 0
    if sort[-1].param != "_id":
        sort = (*sort, SortKey("_id"))
    request.query = Query(resource_type, tuple(criteria), sort, count, after, total)
    return request

"""Extract the searchable values of a resource once, at write time, from the declared parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mais_node.errors import InvalidRequest
from mais_node.fhir.search.dates import date_range
from mais_node.fhir.search.params import params_for
from mais_node.fhir.search.query import IndexEntry
from mais_node.fhir.search.text import normalise

_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


def walk(node: Any, path: str) -> Iterator[Any]:
    """Every value at a dotted path, walking through arrays."""
    if type(node) is dict and path and "." not in path:  # the common last step, without the generic recursion
        if path in node:
            value = node[path]
            if type(value) is list:
                for item in value:
                    yield from walk(item, "")
            else:
                yield value
        return
    if isinstance(node, list):
        for item in node:
            yield from walk(item, path)
        return
    if not path:
        yield node
        return
    head, _, rest = path.partition(".")
    if isinstance(node, Mapping) and head in node:
        yield from walk(node[head], rest)


_PARTS = tuple(dict.fromkeys(_NAME_PARTS + _ADDRESS_PARTS))  # "text" once: its second value was a duplicate


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    found: list[str] = []
    if isinstance(value, Mapping):
        for part in _PARTS:
            if part in value:
                item = value[part]
                if isinstance(item, str):
                    found.append(item)
                elif isinstance(item, list):
                    found.extend(s for s in item if isinstance(s, str))
    return found


def _tokens(value: Any) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, str):
        yield None, value
    elif isinstance(value, Mapping):
        if "coding" in value:
            for coding in value.get("coding") or ():
                yield from _tokens(coding)
        elif "value" in value and isinstance(value["value"], str):
            yield value.get("system"), value["value"]
        elif isinstance(value.get("code"), str):
            yield value.get("system"), value["code"]


def _dates(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield date_range(value)
    elif isinstance(value, Mapping):
        start, end = value.get("start"), value.get("end")
        lo = date_range(start)[0] if isinstance(start, str) else "0001-01-01T00:00:00.000000"
        hi = date_range(end)[1] if isinstance(end, str) else "9999-12-31T23:59:59.999999"
        yield lo, hi


def _flat(value: Any, out: list[Any]) -> None:
    """``value``, or each item of a list (of lists), appended to ``out``: the arrays a path walks through."""
    if type(value) is list:
        for item in value:
            _flat(item, out)
    else:
        out.append(value)


def _getter(path: str) -> Callable[[Mapping[str, Any]], list[Any]]:
    """``walk(resource, path)`` as a list, compiled for one path (the steps split once, no generator per value)."""
    steps = tuple(path.split("."))
    if len(steps) == 1:
        (step,) = steps

        def one(node: Mapping[str, Any]) -> list[Any]:
            out: list[Any] = []
            if step in node:
                _flat(node[step], out)
            return out

        return one

    def many(node: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = [node]
        for step in steps:
            out: list[Any] = []
            for value in values:
                if isinstance(value, Mapping) and step in value:
                    _flat(value[step], out)
            values = out
        return values

    return many


Row = tuple[str, str | None, str | None, str | None, str | None, str | None]
"""An ``IndexEntry``'s fields, hashed as a tuple while a resource's entries are gathered."""


def _string_rows(name: str, value: Any, out: dict[Row, None]) -> None:
    for text in _strings(value):
        out[(name, normalise(text), None, text, None, None)] = None


def _token_rows(name: str, value: Any, out: dict[Row, None]) -> None:
    for system, code in _tokens(value):
        out[(name, code, system or "", None, None, None)] = None


def _date_rows(name: str, value: Any, out: dict[Row, None]) -> None:
    for lo, hi in _dates(value):
        out[(name, None, None, None, lo, hi)] = None


def _reference_rows(name: str, value: Any, out: dict[Row, None]) -> None:
    if isinstance(value, Mapping) and isinstance(value.get("reference"), str):
        out[(name, value["reference"], None, None, None, None)] = None


def _uri_rows(name: str, value: Any, out: dict[Row, None]) -> None:
    if isinstance(value, str):
        out[(name, value, None, None, None, None)] = None


def _no_rows(name: str, value: Any, out: dict[Row, None]) -> None:
    return None


_ROWS: dict[str, Callable[[str, Any, dict[Row, None]], None]] = {
    "string": _string_rows,
    "token": _token_rows,
    "date": _date_rows,
    "reference": _reference_rows,
    "uri": _uri_rows,
}


@dataclass(frozen=True, slots=True)
class _Path:
    param: str
    first: str  # the parameter's first path, named by an error
    get: Callable[[Mapping[str, Any]], list[Any]]
    rows: Callable[[str, Any, dict[Row, None]], None]


@lru_cache(maxsize=64)
def _compiled(resource_type: str) -> tuple[_Path, ...]:
    """Each path of each search parameter of the type, with its getter and the maker of its entries."""
    return tuple(
        _Path(param.name, param.paths[0], _getter(path), _ROWS.get(param.type, _no_rows))
        for param in params_for(resource_type).values()
        for path in param.paths
    )


def index_entries(resource: Mapping[str, Any]) -> list[IndexEntry]:
    """Every (parameter, value) pair the resource can be found by; duplicates removed, in the order of the
    parameters, their paths and the values found (the compiled extractor of the type, ``_compiled``)."""
    resource_type = str(resource.get("resourceType"))
    seen: dict[Row, None] = {}
    for path in _compiled(resource_type):
        try:
            for value in path.get(resource):
                path.rows(path.param, value, seen)
        except InvalidRequest as exc:
            raise InvalidRequest(exc.diagnostics, expression=(f"{resource_type}.{path.first}",)) from exc
    return [IndexEntry._make(row) for row in seen]

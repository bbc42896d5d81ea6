"""Extract the searchable values of a resource once, at write time, from the declared parameters."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from mais_node.errors import InvalidRequest
from mais_node.fhir.search.dates import date_range
from mais_node.fhir.search.params import SearchParam, params_for
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


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for part in _NAME_PARTS + _ADDRESS_PARTS:
            item = value.get(part)
            if isinstance(item, str):
                yield item
            elif isinstance(item, list):
                yield from (s for s in item if isinstance(s, str))


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


def _entries(param: SearchParam, value: Any) -> Iterator[IndexEntry]:
    if param.type == "string":
        for text in _strings(value):
            yield IndexEntry(param.name, value=normalise(text), exact=text)
    elif param.type == "token":
        for system, code in _tokens(value):
            yield IndexEntry(param.name, value=code, system=system or "")
    elif param.type == "date":
        for lo, hi in _dates(value):
            yield IndexEntry(param.name, lo=lo, hi=hi)
    elif param.type == "reference":
        if isinstance(value, Mapping) and isinstance(value.get("reference"), str):
            yield IndexEntry(param.name, value=value["reference"])
    elif param.type == "uri" and isinstance(value, str):
        yield IndexEntry(param.name, value=value)


@lru_cache(maxsize=64)
def _params(resource_type: str) -> tuple[SearchParam, ...]:
    return tuple(params_for(resource_type).values())


def index_entries(resource: Mapping[str, Any]) -> list[IndexEntry]:
    """Every (parameter, value) pair the resource can be found by; duplicates removed."""
    resource_type = str(resource.get("resourceType"))
    seen: dict[IndexEntry, None] = {}
    try:
        for param in _params(resource_type):
            for path in param.paths:
                for value in walk(resource, path):
                    for entry in _entries(param, value):
                        seen.setdefault(entry)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.diagnostics, expression=(f"{resource_type}.{param.paths[0]}",)) from exc
    return list(seen)

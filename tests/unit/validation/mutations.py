"""Single-point mutations of a FHIR JSON resource, to compare two validation paths on many near-valid inputs:
each variant deletes one element, or gives one element a wrong value or type (bad check digits, strings for
numbers, lists for objects, nulls, unknown elements)."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]


def variants(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every single-point mutation of the resource, each with a label naming the path and the change."""
    yield "unknown element at the root", {**copy.deepcopy(resource), "unknownElement": "x"}
    for path, value in _leaves_and_branches(resource, ()):
        if not path:
            continue
        yield _label(path, "deleted"), _delete(resource, path)
        for name, replacement in _replacements(value):
            yield _label(path, name), _replace(resource, path, replacement)


def sample(resource: dict[str, Any], count: int, seed: str) -> list[tuple[str, dict[str, Any]]]:
    """A reproducible sample of the variants (all of them when there are no more than ``count``)."""
    found = list(variants(resource))
    if len(found) <= count:
        return found
    return random.Random(seed).sample(found, count)


def _leaves_and_branches(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves_and_branches(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves_and_branches(child, (*path, index))


def _replacements(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, str):
        yield "emptied", ""
        yield "lengthened", value + "1"
        yield "shortened", value[:-1]
        yield "null", None
        yield "as list", [value]
        if value.isdigit():
            yield "as number", int(value)
            for digit in "0123456789":
                if value[-1] != digit:
                    yield f"last digit {digit}", value[:-1] + digit
        if value.startswith("#"):
            yield "not local", "Patient/" + value[1:]
    elif isinstance(value, bool):
        yield "negated", not value
        yield "as string", str(value).lower()
    elif isinstance(value, int | float):
        yield "as string", str(value)
        yield "as float", float(value) + 0.5
    elif isinstance(value, dict):
        yield "emptied", {}
        yield "as list", [value]
        yield "as string", "x"
        yield "unknown element", {**value, "unknownElement": "x"}
    elif isinstance(value, list):
        yield "emptied", []
        yield "with a null", [*value, None]
        if value:
            yield "first repeated", [*value, copy.deepcopy(value[0])]
            yield "as single", value[0]


def _delete(resource: dict[str, Any], path: Path) -> dict[str, Any]:
    mutated = copy.deepcopy(resource)
    parent = _at(mutated, path[:-1])
    del parent[path[-1]]
    return mutated


def _replace(resource: dict[str, Any], path: Path, replacement: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(resource)
    _at(mutated, path[:-1])[path[-1]] = copy.deepcopy(replacement)
    return mutated


def _at(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def _label(path: Path, change: str) -> str:
    return "/".join(str(p) for p in path) + f" {change}"

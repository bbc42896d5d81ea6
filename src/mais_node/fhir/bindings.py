"""The base specification's required bindings (FHIR R4 §Terminologies: "required: to be conformant, the concept in
this element SHALL be from the specified value set"), for every resource and data type.

``fhir.resources`` checks types but not codes (``Patient.gender = "not-a-gender"`` parses), so a body that parses is
walked here against ``defaults/r4/required-bindings.json``: the elements of R4 that carry a required binding to a
ValueSet whose codes can be listed, and the elements through which one can be reached (contained and inline
resources, choice values, extensions). The table is generated from the R4 definitions by
``tests/tools/r4_bindings.py`` and checked against them in ``tests/unit/fhir/test_bindings.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib.resources import files
from typing import Any

from mais_node.errors import Issue
from mais_node.fhir.nearest import did_you_mean

GENERIC = ("extension", "modifierExtension")
# A short list of codes is spelt out in the message; a longer one is named by its ValueSet.
LISTED = 12


@lru_cache(maxsize=1)
def _table() -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    """Each type's elements, with every choice (``value[x]``) spelt out as its JSON names (``valueAddress``)."""
    source = files("mais_node").joinpath("defaults/r4/required-bindings.json").read_text(encoding="utf-8")
    types: dict[str, dict[str, Mapping[str, Any]]] = {}
    for owner, elements in json.loads(source)["types"].items():
        named: dict[str, Mapping[str, Any]] = {}
        for name, entry in elements.items():
            if "choice" in entry:
                named.update({name + suffix: {"type": kind} for suffix, kind in entry["choice"].items()})
            else:
                named[name] = entry
        for name in GENERIC:
            named[name] = {"type": "Extension"}
        types[owner] = named
    return types


def binding_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """One issue per code that a required binding of R4 does not allow (none for a type R4 does not define)."""
    kind = resource.get("resourceType")
    issues: list[Issue] = []
    if isinstance(kind, str) and kind in _table():
        _walk(resource, kind, kind, issues)
    return issues


def _walk(value: Mapping[str, Any], owner: str, path: str, issues: list[Issue]) -> None:
    elements = _table().get(owner)
    if elements is None:
        return
    for key, child in value.items():
        entry = elements.get(key)
        if entry is None:
            continue
        items: Sequence[Any] = child if isinstance(child, list) else [child]
        for index, item in enumerate(items):
            where = f"{path}.{key}[{index}]" if isinstance(child, list) else f"{path}.{key}"
            if "codes" in entry:
                problem = _check(entry, item)
                if problem:
                    issues.append(Issue(problem, "code-invalid", expression=(where,)))
            elif not isinstance(item, Mapping):
                continue
            elif entry.get("resource"):
                kind = item.get("resourceType")
                if isinstance(kind, str):
                    _walk(item, kind, where, issues)
            else:
                _walk(item, str(entry["type"]), where, issues)


def _check(entry: Mapping[str, Any], value: Any) -> str | None:
    codes: Mapping[str, Sequence[str]] = entry["codes"]
    if entry["kind"] == "code":
        if not isinstance(value, str) or any(value in group for group in codes.values()):
            return None  # a wrong JSON type is the structure check's to report
        return _message(entry, value)
    codings = [value] if entry["kind"] == "Coding" else value.get("coding") if isinstance(value, Mapping) else None
    if not isinstance(codings, list):
        return None
    shown = ""
    for coding in codings:
        if not isinstance(coding, Mapping) or not isinstance(coding.get("code"), str):
            continue
        system, code = coding.get("system"), coding["code"]
        if code in (codes.get(system, ()) if isinstance(system, str) else {c for g in codes.values() for c in g}):
            return None
        shown = shown or code
    return _message(entry, shown or None)


def _message(entry: Mapping[str, Any], value: str | None) -> str:
    every = sorted({code for group in entry["codes"].values() for code in group})
    choices = f"one of {', '.join(every)}" if len(every) <= LISTED else f"a code from {entry['valueSet']}"
    binding = f"(required binding to {entry['valueSet']})"
    if value is None:
        return f"a code is required here: the value must be {choices} {binding}"
    shown = value if len(value) <= 40 else value[:40] + "…"
    return f"'{shown}' is not allowed here{did_you_mean(value, every)}: the value must be {choices} {binding}"

"""The vocabularies pages' view models and edits (issue 16 §5): a stored CodeSystem read into plain strings, the
difference between two of its versions, and the three edits a terminology manager makes from the console.

Each edit returns the next CodeSystem body, or raises ``FormErrors`` naming each field at fault; the route sends
the body through the REST API's write checks and ``If-Match`` precondition, so the rules of ``editing.py`` (no
code removed, status never backwards) hold here as they do over REST.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

STATUS, REPLACED_BY, LEGISLATION, GDPR = "status", "replaced-by", "legislation", "gdpr-condition"
LEGISLATION_SITE = "https://www.legislation.gov.uk/"
_CODE = re.compile(r"[^\s]+( [^\s]+)*")  # the FHIR R4 code datatype
MAX_TEXT = 500


class FormErrors(Exception):
    """Field → message: what the error summary lists, each linked to its field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class SystemRow:
    id: str
    name: str
    title: str
    url: str
    version: str
    status: str
    stored_version: int
    concepts: int
    updated: str


@dataclass(frozen=True, slots=True)
class ConceptRow:
    code: str
    display: str
    definition: str
    status: str
    depth: int
    legislation: str = ""
    gdpr_condition: str = ""
    replaced_by: str = ""


@dataclass(frozen=True, slots=True)
class VersionRow:
    stored_version: int
    version: str
    status: str
    updated: str
    concepts: int


@dataclass(frozen=True, slots=True)
class Change:
    code: str
    what: str  # added, removed, changed
    before: str
    after: str


def walk(concepts: Any, depth: int = 0) -> Iterator[tuple[dict[str, Any], int]]:
    """Every concept of a CodeSystem (nested ones after their parent) with its depth."""
    for concept in concepts or []:
        if isinstance(concept, dict) and isinstance(concept.get("code"), str):
            yield concept, depth
            yield from walk(concept.get("concept"), depth + 1)


def property_value(concept: Mapping[str, Any], code: str) -> str:
    for prop in concept.get("property") or []:
        if isinstance(prop, Mapping) and prop.get("code") == code:
            value = next((v for k, v in prop.items() if k.startswith("value")), "")
            return str(value.get("code", "") if isinstance(value, Mapping) else value)
    return ""


def status_of(concept: Mapping[str, Any]) -> str:
    return property_value(concept, STATUS) or "active"


def declares(resource: Mapping[str, Any], code: str) -> bool:
    return any(isinstance(p, Mapping) and p.get("code") == code for p in resource.get("property") or [])


def system_row(resource: Mapping[str, Any], stored_version: int, updated: str) -> SystemRow:
    return SystemRow(
        id=str(resource.get("id", "")),
        name=str(resource.get("name", "")),
        title=str(resource.get("title") or resource.get("name") or resource.get("url", "")),
        url=str(resource.get("url", "")),
        version=str(resource.get("version", "")),
        status=str(resource.get("status", "")),
        stored_version=stored_version,
        concepts=sum(1 for _ in walk(resource.get("concept"))),
        updated=updated,
    )


def concept_rows(resource: Mapping[str, Any]) -> tuple[ConceptRow, ...]:
    return tuple(
        ConceptRow(
            code=str(c["code"]),
            display=str(c.get("display") or ""),
            definition=str(c.get("definition") or ""),
            status=status_of(c),
            depth=depth,
            legislation=property_value(c, LEGISLATION),
            gdpr_condition=property_value(c, GDPR),
            replaced_by=property_value(c, REPLACED_BY),
        )
        for c, depth in walk(resource.get("concept"))
    )


def version_row(resource: Mapping[str, Any], stored_version: int, updated: str) -> VersionRow:
    row = system_row(resource, stored_version, updated)
    return VersionRow(stored_version, row.version, row.status, updated, row.concepts)


def _summary(row: ConceptRow) -> dict[str, str]:
    return {
        "display": row.display,
        "definition": row.definition,
        "status": row.status,
        "legislation": row.legislation,
        "GDPR condition": row.gdpr_condition,
        "replaced by": row.replaced_by,
    }


def _words(fields: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in fields.items() if v)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """What changed, concept by concept, between two versions of one CodeSystem (in the newer one's order)."""
    old = {r.code: _summary(r) for r in concept_rows(before)}
    new = {r.code: _summary(r) for r in concept_rows(after)}
    changes = []
    for code, fields in new.items():
        if code not in old:
            changes.append(Change(code, "added", "", _words(fields)))
        elif fields != old[code]:
            was = {k: v for k, v in old[code].items() if fields[k] != v}
            now = {k: v for k, v in fields.items() if old[code][k] != v}
            changes.append(Change(code, "changed", _words(was) or "(empty)", _words(now) or "(empty)"))
    changes += [Change(code, "removed", _words(fields), "") for code, fields in old.items() if code not in new]
    return tuple(changes)


# -- edits ----------------------------------------------------------------------------------------------------


def next_version(version: str) -> str:
    """The version an edit makes: the last number raised by one ("0.2.0" → "0.2.1"), or ".1" added."""
    head, dot, last = version.rpartition(".")
    if last.isdigit():
        return f"{head}{dot}{int(last) + 1}"
    return f"{version}.1" if version else "1"


def _edited(resource: Mapping[str, Any], today: date) -> dict[str, Any]:
    body = copy.deepcopy(dict(resource))
    body.pop("meta", None)
    body["version"] = next_version(str(body.get("version", "")))
    body["date"] = today.isoformat()
    return body


def _recount(body: dict[str, Any]) -> dict[str, Any]:
    if "count" in body:
        body["count"] = sum(1 for _ in walk(body.get("concept")))
    return body


def _find(body: Mapping[str, Any], code: str) -> dict[str, Any] | None:
    return next((c for c, _ in walk(body.get("concept")) if c["code"] == code), None)


def _set(concept: dict[str, Any], code: str, value: str) -> None:
    properties = [p for p in concept.get("property") or [] if not (isinstance(p, dict) and p.get("code") == code)]
    key = "valueCode" if code in (STATUS, REPLACED_BY) else "valueString"
    concept["property"] = [*properties, {"code": code, key: value}]


def _text(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "").strip()


def add_concept(resource: Mapping[str, Any], form: Mapping[str, str], today: date) -> dict[str, Any]:
    """A new draft concept at the top level, with its legal basis where the CodeSystem declares one."""
    code, display, definition = _text(form, "code"), _text(form, "display"), _text(form, "definition")
    errors: dict[str, str] = {}
    if not code:
        errors["code"] = "Enter the code"
    elif not _CODE.fullmatch(code) or len(code) > 64:
        errors["code"] = "The code must be 64 characters or fewer, with no leading, trailing or double spaces"
    elif _find(resource, code) is not None:
        errors["code"] = f"The code {code} is already in this vocabulary: choose another code"
    if not display:
        errors["display"] = "Enter the display (the words people read)"
    for name, value in (("display", display), ("definition", definition)):
        if len(value) > MAX_TEXT and name not in errors:
            errors[name] = f"The {name} must be {MAX_TEXT} characters or fewer"
    legal = declares(resource, LEGISLATION)
    legislation, gdpr = _text(form, "legislation"), _text(form, "gdpr")
    if legal:
        if not legislation:
            errors["legislation"] = "Enter the legislation.gov.uk address of the legal basis"
        elif not legislation.startswith(LEGISLATION_SITE) or any(ch.isspace() for ch in legislation):
            errors["legislation"] = f"The legal basis must be an address beginning {LEGISLATION_SITE}"
        if not gdpr:
            errors["gdpr"] = "Enter the UK GDPR and DPA 2018 condition relied on"
        elif len(gdpr) > MAX_TEXT:
            errors["gdpr"] = f"The condition must be {MAX_TEXT} characters or fewer"
    if errors:
        raise FormErrors(errors)
    concept: dict[str, Any] = {"code": code, "display": display}
    if definition:
        concept["definition"] = definition
    _set(concept, STATUS, "draft")
    if legal:
        _set(concept, LEGISLATION, legislation)
        _set(concept, GDPR, gdpr)
    body = _edited(resource, today)
    body["concept"] = [*(body.get("concept") or []), concept]
    return _recount(body)


def activate(resource: Mapping[str, Any], form: Mapping[str, str], today: date) -> dict[str, Any]:
    """A draft concept made active: in use from the next enquiry."""
    code = _text(form, "code")
    body = _edited(resource, today)
    concept = _find(body, code)
    if concept is None:
        raise FormErrors({"code": "Choose a code of this vocabulary to activate"})
    if status_of(concept) != "draft":
        raise FormErrors({"code": f"The code {code} is {status_of(concept)}: only a draft code can be activated"})
    _set(concept, STATUS, "active")
    return body


def retire(resource: Mapping[str, Any], form: Mapping[str, str], today: date) -> dict[str, Any]:
    """A concept retired, with the code to use instead when one is given (kept, never removed)."""
    code, replacement = _text(form, "retire-code"), _text(form, "replaced-by")
    body = _edited(resource, today)
    concept = _find(body, code)
    errors: dict[str, str] = {}
    if concept is None:
        errors["retire-code"] = "Choose the code to retire"
    elif status_of(concept) == "retired":
        errors["retire-code"] = f"The code {code} is already retired"
    if replacement:
        target = _find(body, replacement)
        if target is None:
            errors["replaced-by"] = f"The code {replacement} is not in this vocabulary: enter one of its codes"
        elif replacement == code:
            errors["replaced-by"] = "A code cannot be replaced by itself"
        elif status_of(target) == "retired":
            errors["replaced-by"] = f"The code {replacement} is retired: enter a code in use or a draft"
    if errors or concept is None:
        raise FormErrors(errors)
    _set(concept, STATUS, "retired")
    if replacement:
        _set(concept, REPLACED_BY, replacement)
    return body

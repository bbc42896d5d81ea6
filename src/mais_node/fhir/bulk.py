"""Bulk load of a node's people, their involvements and the teams that hold them (``mais person import``): Patient,
EpisodeOfCare and Organization rows, from a FHIR Bundle or NDJSON.

Every row is validated before any is written (R4 structure and required bindings, the profile that applies, and
each involvement's references, which must name a row of the file or a resource the node holds): a file with a bad
row imports nothing unless told to skip bad rows. Rows are written teams first, so that an involvement never names
a team the node does not hold. Importing the same file twice changes nothing: rows with an id are written by id,
Bundle entries named ``urn:uuid:…`` take that uuid as their id, and a team without an id is found by its identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from mais_node.errors import Issue, MaisError
from mais_node.fhir.models import structure_issues, valid_id
from mais_node.fhir.service import ResourceService
from mais_node.matching.fhir_patient import NHS_VERIFICATION, UKCORE_VERIFICATION_SYSTEM, UKCORE_VERIFIED_CODE
from mais_node.matching.nhs_number import NHS_NUMBER_SYSTEM, nhs_number_valid

# In the order they are written: an EpisodeOfCare names its Patient and the Organization managing it.
IMPORTABLE = ("Organization", "Patient", "EpisodeOfCare")
REFERENCES = {"patient": "Patient", "managingOrganization": "Organization"}
UUID_PREFIX = "urn:uuid:"

Conformance = Callable[[Mapping[str, Any]], list[Issue]]
"""The profile check of one row (the profile that applies to its type), beyond R4's."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    resource: dict[str, Any] | None
    problems: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportReport:
    imported: dict[str, int] = field(default_factory=dict)
    rejected: list[Row] = field(default_factory=list)
    written: bool = False
    nhs_verified: int = 0


def _problems(resource: Any) -> tuple[str, ...]:
    if not isinstance(resource, dict):
        return ("not a JSON object",)
    if resource.get("resourceType") not in IMPORTABLE:
        return (f"resourceType must be one of {', '.join(IMPORTABLE)}",)
    if "id" in resource and not (isinstance(resource["id"], str) and valid_id(resource["id"])):
        return ("id is not a valid FHIR id",)
    return tuple(_describe(i) for i in structure_issues(resource))


def _describe(issue: Issue) -> str:
    where = f" at {issue.expression[0]}" if issue.expression else ""
    return f"{issue.diagnostics}{where}"


def read_rows(path: Path) -> Iterator[Row]:
    """Rows of an NDJSON file (one per line) or of a Bundle (one per entry, numbered from 1)."""
    text = path.read_bytes()
    stripped = text.lstrip()
    if stripped.startswith(b"{") and b'"Bundle"' in stripped[:200] and b"\n{" not in stripped:
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield Row(1, None, (f"not valid JSON (character {exc.pos})",))
            return
        entries = [e if isinstance(e, dict) else {} for e in document.get("entry") or []]
        named = _uuid_names(entries)
        for number, entry in enumerate(entries, start=1):
            resource = entry.get("resource")
            if isinstance(resource, dict) and named:
                resource = _named(resource, entry.get("fullUrl"), named)
            yield Row(number, resource, _problems(resource))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Row(number, None, (f"not valid JSON (character {exc.pos})",))
            continue
        yield Row(number, resource, _problems(resource))


def _uuid_names(entries: list[dict[str, Any]]) -> dict[str, str]:
    """``urn:uuid:X`` → ``Type/X`` for entries without an id (a uuid is a valid FHIR id), as a transaction would."""
    names = {}
    for entry in entries:
        full_url, resource = entry.get("fullUrl"), entry.get("resource")
        if isinstance(full_url, str) and full_url.startswith(UUID_PREFIX) and isinstance(resource, dict):
            uuid, kind = full_url.removeprefix(UUID_PREFIX), resource.get("resourceType")
            if valid_id(uuid) and isinstance(kind, str) and "id" not in resource:
                names[full_url] = f"{kind}/{uuid}"
    return names


def _named(resource: dict[str, Any], full_url: Any, names: Mapping[str, str]) -> dict[str, Any]:
    renamed: dict[str, Any] = _rewrite(resource, names)
    if isinstance(full_url, str) and full_url in names:
        renamed["id"] = names[full_url].split("/", 1)[1]
    return renamed


def _rewrite(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: names.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, names) for v in value]
    return value


def import_rows(
    service: ResourceService,
    rows: list[Row],
    *,
    skip_invalid: bool = False,
    conformance: Conformance | None = None,
    nhs_verified: bool = False,
) -> ImportReport:
    """Validate every row, then (unless one is bad and ``skip_invalid`` is not given) write the good ones.

    ``nhs_verified``: the operator states that the file's NHS numbers were traced against the spine; each Patient
    whose number carries no verification status is given UK Core's ``number-present-and-verified``."""
    rows = [_conformant(row, conformance) for row in rows]
    rows = _referenced(service, rows)
    report = ImportReport(rejected=[r for r in rows if r.problems])
    if report.rejected and not skip_invalid:
        return report
    good = [row for row in rows if not row.problems and row.resource is not None]
    for kind in IMPORTABLE:
        for row in (r for r in good if r.resource is not None and r.resource["resourceType"] == kind):
            resource = row.resource
            assert resource is not None
            if nhs_verified and kind == "Patient":
                resource, marked = mark_nhs_verified(resource)
                report.nhs_verified += marked
            try:
                _write(service, resource)
            except MaisError as exc:
                report.rejected.append(Row(row.line, resource, (exc.diagnostics,)))
                continue
            report.imported[kind] = report.imported.get(kind, 0) + 1
    report.rejected.sort(key=lambda row: row.line)
    report.written = True
    return report


def _conformant(row: Row, conformance: Conformance | None) -> Row:
    if row.problems or row.resource is None or conformance is None:
        return row
    errors = [i for i in conformance(row.resource) if i.severity in ("error", "fatal")]
    return replace(row, problems=tuple(_describe(i) for i in errors)) if errors else row


def _referenced(service: ResourceService, rows: list[Row]) -> list[Row]:
    """An involvement must name its person and its team as ``Type/id`` of a good row or of a resource held."""
    in_file = {
        f"{row.resource['resourceType']}/{row.resource['id']}"
        for row in rows
        if not row.problems and row.resource is not None and "id" in row.resource
    }
    checked = []
    for row in rows:
        resource = row.resource
        if row.problems or resource is None or resource.get("resourceType") != "EpisodeOfCare":
            checked.append(row)
            continue
        problems = [
            problem
            for element, kind in REFERENCES.items()
            if (problem := _reference_problem(service, resource.get(element), element, kind, in_file))
        ]
        checked.append(replace(row, problems=tuple(problems)) if problems else row)
    return checked


def _reference_problem(service: ResourceService, value: Any, element: str, kind: str, in_file: set[str]) -> str:
    if value is None:
        return ""
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str):
        reference = ""
    rtype, _, rid = reference.partition("/")
    if rtype != kind or not valid_id(rid):
        return f"{element} must be a reference {kind}/{{id}} to a {kind} of this file or of the node"
    if reference in in_file:
        return ""
    held = service.store.read(kind, rid)
    if held is None or held.deleted:
        return (
            f"{element} names {reference[:80]}, which is neither a row of this file nor held by the node:"
            f" import the {kind} with the people"
        )
    return ""


def _write(service: ResourceService, resource: dict[str, Any]) -> None:
    kind = resource["resourceType"]
    if "id" in resource:
        service.update(kind, resource["id"], resource)
        return
    criteria = _identifier_criteria(resource) if kind == "Organization" else None
    service.create(kind, resource, if_none_exist=criteria)


def _identifier_criteria(resource: Mapping[str, Any]) -> str | None:
    """``identifier=system|value`` of a team without an id, so that importing it again finds it."""
    for identifier in resource.get("identifier") or []:
        system, value = identifier.get("system"), identifier.get("value")
        if isinstance(system, str) and isinstance(value, str) and "|" not in system + value:
            return f"identifier={system}|{value}"
    return None


def mark_nhs_verified(patient: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The Patient with UK Core's NHS number verification status ``number-present-and-verified`` on its valid NHS
    number, unless that identifier already states a status (the record's own word stands)."""
    identifiers = patient.get("identifier")
    if not isinstance(identifiers, list):
        return patient, False
    for index, identifier in enumerate(identifiers):
        if not isinstance(identifier, dict) or identifier.get("system") != NHS_NUMBER_SYSTEM:
            continue
        if not nhs_number_valid(str(identifier.get("value", ""))):
            continue
        extensions = identifier.get("extension") or []
        if any(isinstance(e, dict) and e.get("url") == NHS_VERIFICATION for e in extensions):
            return patient, False
        coding = {
            "system": UKCORE_VERIFICATION_SYSTEM,
            "code": UKCORE_VERIFIED_CODE,
            "display": "Number present and verified",
        }
        stated = {"url": NHS_VERIFICATION, "valueCodeableConcept": {"coding": [coding]}}
        marked = [*identifiers[:index], {**identifier, "extension": [*extensions, stated]}, *identifiers[index + 1 :]]
        return {**patient, "identifier": marked}, True
    return patient, False

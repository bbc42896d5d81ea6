"""Bulk load of Patient and EpisodeOfCare rows (``mais person import``): a FHIR Bundle or NDJSON.

Every row is validated before any is written: a file with a bad row imports nothing unless told to skip bad rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mais_node.errors import Issue, MaisError
from mais_node.fhir.models import structure_issues, valid_id
from mais_node.fhir.service import ResourceService

IMPORTABLE = ("Patient", "EpisodeOfCare")


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
        for number, entry in enumerate(document.get("entry") or [], start=1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
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


def import_rows(service: ResourceService, rows: list[Row], *, skip_invalid: bool = False) -> ImportReport:
    report = ImportReport(rejected=[r for r in rows if r.problems])
    if report.rejected and not skip_invalid:
        return report
    for row in rows:
        if row.problems or row.resource is None:
            continue
        resource = row.resource
        try:
            if "id" in resource:
                service.update(resource["resourceType"], resource["id"], resource)
            else:
                service.create(resource["resourceType"], resource)
        except MaisError as exc:
            report.rejected.append(Row(row.line, resource, (exc.diagnostics,)))
            continue
        kind = resource["resourceType"]
        report.imported[kind] = report.imported.get(kind, 0) + 1
    report.written = True
    return report

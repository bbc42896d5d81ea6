"""Audit search and export for auditors (issue 16 §4) on the audit query service the REST search uses.

The form's fields become R4 AuditEvent search parameters (``audit.query.parse_audit_query``), so the console
finds exactly what ``GET /fhir/AuditEvent`` finds; pages are keyset pages of 20, newest first. Every search and
every export is itself audited with the person as the agent, before the results leave the node.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from mais_node.audit import balp
from mais_node.audit.actors import NHS_NUMBER
from mais_node.audit.export import export
from mais_node.audit.port import AuditRecord
from mais_node.audit.query import parse_audit_query
from mais_node.audit.verify import verify
from mais_node.console import audit_view
from mais_node.console.web import Console, ConsoleDep, FormDep, Visit, error_page, needs, render
from mais_node.errors import InvalidRequest

router = APIRouter(prefix="/console/audit", include_in_schema=False)
AUDITOR = "system/AuditEvent.rs"
AuditorDep = Annotated[Visit, needs(AUDITOR)]
PAGE = 20
EXPORT_LIMIT = 50_000
FIELDS = ("from", "to", "agent", "nhs", "type", "subtype", "outcome", "request")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _pairs(console: Console, form: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The search parameters of the form's fields, and an error per field that is not right."""
    pairs: list[tuple[str, str]] = []
    errors: dict[str, str] = {}
    for field, prefix in (("from", "ge"), ("to", "le")):
        if value := form.get(field, ""):
            if _DAY.match(value):
                pairs.append(("date", f"{prefix}{value}"))
            else:
                errors[field] = f"Enter the {'first' if field == 'from' else 'last'} day as YYYY-MM-DD"
    if nhs := form.get("nhs", "").replace(" ", ""):
        if len(nhs) == 10 and nhs.isascii() and nhs.isdigit():
            pairs.append(("patient", f"{NHS_NUMBER}|{nhs}"))
        else:
            errors["nhs"] = "Enter an NHS number of 10 digits"
    for field in ("agent", "type", "subtype", "outcome"):
        if value := form.get(field, "").strip():
            pairs.append((field, value))
    if request_id := form.get("request", "").strip():
        pairs.append(("entity", f"{console.services.node.canonical_base}/Id/enquiry|{request_id}"))
    return pairs, errors


def _audit_search(console: Console, visit: Visit, pairs: list[tuple[str, str]], returned: int) -> None:
    actor = console.person_actor(visit.person, address=visit.address)
    now = console.services.clock.now()
    event = balp.audit_searched(console.services.node, now, actor, query=urlencode(pairs), returned=returned)
    console.record(event)


@router.get("")
async def search(request: Request, console: ConsoleDep, visit: AuditorDep) -> Response:
    form = {k: request.query_params.get(k, "")[:200] for k in (*FIELDS, "cursor")}
    pairs, errors = _pairs(console, form)
    rows: list[audit_view.Row] = []
    next_link = ""
    searched = any(form.get(k) for k in FIELDS) or "search" in request.query_params
    if searched and not errors:
        paged = [*pairs, ("_sort", "-date"), ("_count", str(PAGE))]
        try:
            query = parse_audit_query([*paged, *([("_cursor", form["cursor"])] if form["cursor"] else [])])
            page = console.services.audit.search(query)
        except InvalidRequest as exc:
            errors["search"] = exc.diagnostics
        else:
            _audit_search(console, visit, pairs, len(page.records))
            rows = [audit_view.row(r) for r in page.records]
            if page.next_cursor:
                kept = {k: v for k, v in form.items() if v and k != "cursor"}
                next_link = "/console/audit?" + urlencode({**kept, "search": "1", "cursor": page.next_cursor})
    filters = urlencode({k: v for k, v in form.items() if v and k != "cursor"})
    return render(
        request,
        "audit.html",
        status=400 if errors else 200,
        visit=visit,
        chain=_chain(console),
        verified=None,
        form=form,
        errors=errors,
        rows=rows,
        searched=searched,
        next_link=next_link,
        filters=filters,
    )


@router.get("/export")
async def export_trail(request: Request, console: ConsoleDep, visit: AuditorDep, format: str = "csv") -> Response:
    if format not in ("csv", "ndjson"):
        return error_page(request, 400, "The export format must be csv or ndjson.")
    form = {k: request.query_params.get(k, "")[:200] for k in FIELDS}
    pairs, errors = _pairs(console, form)
    if errors:
        return render(
            request,
            "audit.html",
            status=400,
            visit=visit,
            form={**form, "cursor": ""},
            errors=errors,
            rows=[],
            searched=False,
            next_link="",
            filters="",
        )
    base = parse_audit_query([*pairs, ("_sort", "-date"), ("_count", "1000")])
    records: list[AuditRecord] = []
    query = base
    while len(records) < EXPORT_LIMIT:
        page = console.services.audit.search(query)
        records += page.records
        if not page.next_cursor:
            break
        query = replace(base, after=parse_audit_query([("_cursor", page.next_cursor)]).after)
    records = records[:EXPORT_LIMIT]
    _audit_search(console, visit, [*pairs, ("export", format)], len(records))
    out = io.StringIO()
    export(records, None, None, "csv" if format == "csv" else "ndjson", out)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    name = f"audit-export.{format}"
    return Response(out.getvalue(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _chain(console: Console) -> dict[str, str]:
    """The chain's state in words: its last record and its last signed checkpoint."""
    last = console.services.audit.last()
    checkpoint = console.services.checkpoints.latest_checkpoint()
    return {
        "last": f"record {last.seq} at {last.recorded.isoformat(timespec='seconds')}" if last else "no record yet",
        "checkpoint": (
            f"record {checkpoint.seq}, signed {checkpoint.time.isoformat(timespec='seconds')}"
            if checkpoint
            else "none signed yet"
        ),
    }


@router.post("/verify")
async def verify_chain(request: Request, console: ConsoleDep, visit: AuditorDep, form: FormDep) -> Response:
    """Walk the whole chain against the last signed checkpoint, as ``mais audit verify`` does; audited."""
    from mais_node.adapters.jose_signer import KeyRingSigner

    services = console.services
    checkpoint = services.checkpoints.latest_checkpoint()
    signer = KeyRingSigner(services.auth.keyring) if checkpoint else None
    report = verify(services.audit.scan(), checkpoint, signer)
    actor = console.person_actor(visit.person, address=visit.address)
    console.record(
        balp.console_action(
            services.node,
            services.clock.now(),
            actor,
            action="audit-verify",
            target="AuditEvent",
            outcome="0" if report.ok else "8",
            detail=str(report),
        )
    )
    return render(
        request,
        "audit.html",
        visit=visit,
        form={},
        errors={},
        rows=[],
        searched=False,
        next_link="",
        filters="",
        chain=_chain(console),
        verified={"ok": report.ok, "text": str(report)},
    )

"""The single view as a FHIR resource (issue 15 item 1; profile ``mais-single-view``): one Task, one output per
partner, that the practitioner's system reads again and polls (``ETag`` / ``If-None-Match``) as rows change.

Task.status is ``in-progress`` while rows may still change (the live fan-out, then referred rows being followed) and
``completed`` once none can; each output's ``type`` is the row's state (CodeSystem ``single-view-row-state``), its
``valueReference`` the partner organisation (ODS), and the ``mais-single-view-row`` extension the rest of the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mais_node.enquiry.respond import REQUESTER_TAG
from mais_node.network.peers import Trace
from mais_node.network.rows import Row, RowState
from mais_node.terminology import CANONICAL_BASE

PROFILE = f"{CANONICAL_BASE}/StructureDefinition/mais-single-view"
ROW_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/mais-single-view-row"
STATE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/single-view-row-state"
VIEW_ID_SYSTEM = f"{CANONICAL_BASE}/Id/single-view"
TRACE_SYSTEM = f"{CANONICAL_BASE}/Id/trace-id"
PURPOSE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/request-asserted-purpose"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
INSTANT = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass
class View:
    """One single view as this node holds it while rows come in."""

    id: str
    trace: Trace
    purpose: str
    subject: dict[str, Any]
    items: list[str]
    requester_ods: str
    user: dict[str, Any] | None
    started: datetime
    collect_until: datetime  # referred rows are followed until then
    rows: list[Row] = field(default_factory=list)
    complete: bool = False

    def pending(self) -> list[Row]:
        return [r for r in self.rows if r.state is RowState.PENDING_REVIEW and r.verdict.task]


def to_task(view: View, now: datetime) -> dict[str, Any]:
    contained: list[dict[str, Any]] = [{**view.subject, "id": "subject"}]
    outputs = []
    for row in view.rows:
        output, contact = _output(row)
        outputs.append(output)
        if contact is not None:
            contained.append(contact)
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": view.id,
        # The requester's tag: like an enquiry Task, a view is read only by its own organisation (api/governance.py).
        "meta": {"profile": [PROFILE], "tag": [{"system": REQUESTER_TAG, "code": view.requester_ods}]},
        "contained": contained,
        "identifier": [
            {"system": VIEW_ID_SYSTEM, "value": view.id},
            {"system": TRACE_SYSTEM, "value": view.trace.trace_id},
        ],
        "status": "completed" if view.complete else "in-progress",
        "intent": "order",
        "code": {"text": "single view"},
        "for": {"reference": "#subject"},
        "authoredOn": _instant(view.started),
        "lastModified": _instant(now),
        "requester": {"identifier": {"system": ODS, "value": view.requester_ods}},
        "reasonCode": {"coding": [{"system": PURPOSE_SYSTEM, "code": view.purpose}]},
        "restriction": {"period": {"start": _instant(view.started), "end": _instant(view.collect_until)}},
        "input": [{"type": {"text": "requestedItem"}, "valueCode": item} for item in view.items],
    }
    if view.user:
        task["note"] = [{"text": f"asked by {view.user.get('name') or view.user.get('identifier') or 'a user'}"}]
    if outputs:
        task["output"] = outputs
    return task


def _output(row: Row) -> tuple[dict[str, Any], dict[str, Any] | None]:
    found = row.verdict
    parts: list[dict[str, Any]] = []
    if row.endpoint:
        parts.append({"url": "endpoint", "valueUrl": row.endpoint})
    if found.reason:
        parts.append({"url": "reason", "valueString": found.reason})
    if row.answered_at:
        parts.append({"url": "answeredAt", "valueInstant": row.answered_at})
    if row.latency_ms is not None:
        parts.append({"url": "latencyMs", "valueDecimal": row.latency_ms})
    if found.request_id:
        parts.append({"url": "partnerRequestId", "valueString": found.request_id})
    if found.task:
        parts.append({"url": "partnerTask", "valueUrl": found.task})
    if found.open is not None:
        parts.append({"url": "open", "valueBoolean": found.open})
    parts += [{"url": "rule", "valueString": rule} for rule in found.rules]
    contact: dict[str, Any] | None = None
    if found.contact is not None:
        contact_id = f"contact-{row.organisation}"
        contact = {"resourceType": "Organization", "id": contact_id}
        if found.contact.name:
            contact["name"] = found.contact.name
        if found.contact.telecom:
            contact["telecom"] = [{"system": "phone", "value": t} for t in found.contact.telecom]
        parts.append({"url": "contact", "valueReference": {"reference": f"#{contact_id}"}})
    output: dict[str, Any] = {
        "type": {"coding": [{"system": STATE_SYSTEM, "code": row.state.value}], "text": row.state.value},
        "valueReference": {"identifier": {"system": ODS, "value": row.organisation}, "display": row.name},
    }
    if parts:
        output["extension"] = [{"url": ROW_EXTENSION, "extension": parts}]
    return output, contact


def _instant(at: datetime) -> str:
    return at.strftime(INSTANT)[:-3] + "Z"


@dataclass(frozen=True, slots=True)
class RowRead:
    """One output of a ``mais-single-view`` Task read back: the partner, its state, the row's extension parts by
    url (each part's value) and the contained contact Organization, if the partner released one."""

    organisation: str
    name: str
    state: str
    parts: dict[str, Any]
    contact: dict[str, Any] | None


def read_rows(task: dict[str, Any]) -> list[RowRead]:
    """The rows of a view as ``to_task`` wrote them, in its order (a practitioner's system reads them the same way)."""
    contained = {r.get("id"): r for r in task.get("contained") or [] if isinstance(r, dict)}
    rows = []
    for output in task.get("output") or []:
        partner = output.get("valueReference") or {}
        parts: dict[str, Any] = {
            e["url"]: next((v for k, v in e.items() if k.startswith("value")), None)
            for ext in output.get("extension") or []
            if ext.get("url") == ROW_EXTENSION
            for e in ext.get("extension") or []
        }
        reference = (parts.get("contact") or {}).get("reference") if isinstance(parts.get("contact"), dict) else None
        contact = contained.get(str(reference).lstrip("#")) if reference else None
        state = ((output.get("type") or {}).get("coding") or [{}])[0].get("code")
        rows.append(
            RowRead(
                organisation=str((partner.get("identifier") or {}).get("value") or ""),
                name=str(partner.get("display") or ""),
                state=str(state or ""),
                parts=parts,
                contact=contact,
            )
        )
    return rows

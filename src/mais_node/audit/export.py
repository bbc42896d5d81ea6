"""Export of the audit trail for auditors (DESIGN §7, issue 6 "export NDJSON or CSV"), streaming in constant memory.

NDJSON: one AuditEvent per line, exactly as chained (FHIR Bulk Data style). CSV: one row per event with the
columns an auditor reads first (who asked and as which user, about whom, the request id, the rules that decided,
the reason, the agreements, the purpose), and the chain hash so a row can be checked against the store.

Every text cell that a spreadsheet would read as a formula (it begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is prefixed with ``'``, as OWASP's "CSV Injection" advises: a reason or an organisation name is
data written by others, and opening the export must not run it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Literal

import orjson

from mais_node.audit.actors import OBJECT_ROLE
from mais_node.audit.port import AuditRecord, Event

CSV_COLUMNS = (
    "seq",
    "recorded",
    "type",
    "subtype",
    "action",
    "outcome",
    "agent_who",
    "user",
    "patient",
    "request_id",
    "rules",
    "reason",
    "policy",
    "purpose",
    "hash",
)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string beginning like a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _who(ref: object) -> str:
    if not isinstance(ref, dict):
        return ""
    identifier = ref.get("identifier") or {}
    return str(ref.get("reference") or identifier.get("value") or ref.get("display") or "")


def _person(ref: object) -> str:
    """The person as the record names them: the node's Patient and the NHS number, both when both are given."""
    if not isinstance(ref, dict):
        return ""
    named = [str(ref.get("reference") or ""), str((ref.get("identifier") or {}).get("value") or "")]
    return " ".join(n for n in named if n) or str(ref.get("display") or "")


def _identified(event: Event, kind: str) -> list[str]:
    """The values of the entities identified in this node's ``Id/{kind}`` system (the enquiry, the rules)."""
    return [
        str(identifier.get("value", ""))
        for entity in event.get("entity", ())
        for identifier in [(entity.get("what") or {}).get("identifier") or {}]
        if str(identifier.get("system", "")).endswith(f"/Id/{kind}")
    ]


def _row(record: AuditRecord) -> list[object]:
    event: Event = record.event
    agents = event.get("agent", ())
    patients = [
        _person(e.get("what"))
        for e in event.get("entity", ())
        if (e.get("role") or {}).get("system") == OBJECT_ROLE and (e.get("role") or {}).get("code") == "1"
    ]
    purposes = [c.get("code", "") for a in agents for cc in a.get("purposeOfUse", ()) for c in cc.get("coding", ())]
    return [
        record.seq,
        event.get("recorded", ""),
        (event.get("type") or {}).get("code", ""),
        " ".join(c.get("code", "") for c in event.get("subtype", ())),
        event.get("action", ""),
        event.get("outcome", ""),
        " ".join(filter(None, (_who(a.get("who")) for a in agents))),
        " ".join(str(a["name"]) for a in agents if a.get("name")),
        " ".join(patients),
        " ".join(_identified(event, "enquiry")),
        " ".join(_identified(event, "rule")),
        event.get("outcomeDesc", ""),
        " ".join(p for a in agents for p in a.get("policy", ())),
        " ".join(purposes),
        record.hash,
    ]


def export(
    records: Iterable[AuditRecord],
    since: datetime | None,
    until: datetime | None,
    fmt: Literal["ndjson", "csv"],
    out: IO[str],
) -> int:
    """Write the records recorded in [since, until) to ``out``; returns how many were written."""
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    elif fmt != "ndjson":
        raise ValueError(f"unknown export format {fmt!r}")
    written = 0
    for record in records:
        if (since is not None and record.recorded < since) or (until is not None and record.recorded >= until):
            continue
        if writer is not None:
            writer.writerow([neutralised(cell) for cell in _row(record)])
        else:
            out.write(orjson.dumps(record.event).decode())
            out.write("\n")
        written += 1
    return written

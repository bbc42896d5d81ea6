"""View models of the audit search: each AuditEvent told in words, with its raw JSON beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from mais_node.audit.actors import NHS_NUMBER, OBJECT_ROLE, ODS
from mais_node.audit.port import AuditRecord

OUTCOMES = {"0": "success", "4": "refused (minor failure)", "8": "refused or denied", "12": "failed (major)"}
SUBTYPES = {
    "enquiry-received": "an enquiry arrived",
    "enquiry-refused": "an enquiry was refused at the gates",
    "decision": "the rules decided an item",
    "review-decision": "an IG officer decided a referred item",
    "disclose": "information was disclosed",
    "audit-search": "an auditor searched the trail",
    "110122": "sign-in",
    "110123": "sign-out",
    "console": "a console action",
    "what-if": "a what-if evaluation",
    "rules-load": "the rules were loaded",
}


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    recorded: str
    what: str
    who: str
    about: str
    outcome: str
    detail: str
    raw: str


def _who(ref: Any) -> str:
    if not isinstance(ref, dict):
        return ""
    identifier = ref.get("identifier") or {}
    value = str(identifier.get("value") or ref.get("reference") or ref.get("display") or "")
    if identifier.get("system") == ODS:
        return f"organisation {value}"
    system = str(identifier.get("system") or "")
    if system.endswith("/Id/client-id"):
        return f"system {value}"
    if system.endswith("/Id/console-user"):
        return f"person {value}"
    return value


def row(record: AuditRecord) -> Row:
    event = record.event
    codes = [str(c.get("code")) for c in event.get("subtype") or []]
    said = [SUBTYPES[c] for c in codes if c in SUBTYPES]
    rest = [c for c in codes if c not in SUBTYPES and c not in ("operation", "search-type")]
    what = "; ".join(said) or str((event.get("type") or {}).get("display") or (event.get("type") or {}).get("code"))
    if rest:
        what += f" ({', '.join(rest)})"
    who = []
    for agent in event.get("agent") or []:
        if agent.get("requestor"):
            name = f" ({agent['name']})" if agent.get("name") else ""
            who.append(f"{_who(agent.get('who'))}{name}")
    about = [
        f"NHS number {e['what']['identifier']['value']}"
        if (e.get("what") or {}).get("identifier", {}).get("system") == NHS_NUMBER
        else _who(e.get("what"))
        for e in event.get("entity") or []
        if (e.get("role") or {}).get("system") == OBJECT_ROLE and (e.get("role") or {}).get("code") == "1"
    ]
    rules = [
        str(e["what"]["identifier"]["value"])
        for e in event.get("entity") or []
        if str(((e.get("what") or {}).get("identifier") or {}).get("system", "")).endswith("/Id/rule")
    ]
    policies = [str(p) for a in event.get("agent") or [] for p in a.get("policy") or []]
    detail = "; ".join(
        part
        for part in (
            str(event.get("outcomeDesc") or ""),
            f"rules {', '.join(rules)}" if rules else "",
            f"sharing policies {', '.join(policies)}" if policies else "",
        )
        if part
    )
    return Row(
        seq=record.seq,
        recorded=str(event.get("recorded") or ""),
        what=what,
        who=", ".join(w for w in who if w) or "the node",
        about=", ".join(about),
        outcome=OUTCOMES.get(str(event.get("outcome")), str(event.get("outcome") or "")),
        detail=detail,
        raw=orjson.dumps(event, option=orjson.OPT_INDENT_2).decode(),
    )

"""OperationOutcome (FHIR R4 §2.36) built from the node's ``Issue`` objects: the one place every refusal's body is
made, so the one place it is bounded (docs/security.md: at most 100 issues and under 64 KiB, issue 13 §6).

A body of 40,000 bad parameters must not earn an answer of 5 MB: past ``MAX_ISSUES`` issues, or past
``MAX_ISSUE_BYTES`` of them, the rest are counted, not listed, and one last ``too-costly`` issue (as severe as the
worst of them) says how many were left out. A diagnostics or expression longer than its limit is cut, marked "…".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from mais_node.errors import Issue

MAX_ISSUES = 100
MAX_ISSUE_BYTES = 60 * 1024  # the issues' share: the envelope and the last issue fit in the rest of 64 KiB
MAX_DIAGNOSTICS = 1000  # characters
MAX_EXPRESSION = 200  # characters of one expression
MAX_EXPRESSIONS = 8
_SEVERITY_RANK = {"information": 0, "warning": 1, "error": 2, "fatal": 3}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _entry(issue: Issue) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "severity": issue.severity,
        "code": issue.code,
        "diagnostics": _cut(issue.diagnostics, MAX_DIAGNOSTICS),
    }
    if issue.expression:
        entry["expression"] = [_cut(str(where), MAX_EXPRESSION) for where in issue.expression[:MAX_EXPRESSIONS]]
    return entry


def _left_out(count: int, severity: str) -> dict[str, Any]:
    issues = "issue was" if count == 1 else "issues were"
    return {
        "severity": severity,
        "code": "too-costly",
        "diagnostics": f"{count:,} more {issues} left out: an OperationOutcome lists at most {MAX_ISSUES}",
    }


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    size = left_out = 0
    worst = "information"
    for issue in issues:
        if not left_out and len(out) < MAX_ISSUES:
            entry = _entry(issue)
            cost = len(json.dumps(entry, ensure_ascii=False).encode("utf-8", "surrogatepass"))
            if size + cost <= MAX_ISSUE_BYTES:
                out.append(entry)
                size += cost
                continue
        # Once one issue is left out, so is every later one: the list stays a prefix, in the order found.
        left_out += 1
        if _SEVERITY_RANK.get(issue.severity, 2) > _SEVERITY_RANK[worst]:
            worst = issue.severity
    if left_out:
        out.append(_left_out(left_out, worst))
    return {"resourceType": "OperationOutcome", "issue": out}


def information(message: str) -> dict[str, Any]:
    return operation_outcome([Issue(message, "informational", "information")])

"""OperationOutcome (FHIR R4 §2.36) built from the node's ``Issue`` objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mais_node.errors import Issue


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    out = []
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = list(issue.expression)
        out.append(entry)
    return {"resourceType": "OperationOutcome", "issue": out}


def information(message: str) -> dict[str, Any]:
    return operation_outcome([Issue(message, "informational", "information")])

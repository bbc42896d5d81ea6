"""View models of the rules page (issue 16 §6): the rule set in force and the results of ``mais policy test`` on the
cases on disk, as plain strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from mais_node.enquiry.rules import InForce
from mais_node.policy_testing import PolicyTestRun


@dataclass(frozen=True, slots=True)
class RulesInForce:
    content_hash: str
    loaded_at: str
    files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ResultRow:
    case: str
    item: str  # an item, or "ask" for a case on this node's rules on asking
    expected: str
    actual: str
    rule_ids: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Results:
    rows: tuple[ResultRow, ...]
    passed: int
    failed: int


def in_force(loaded: InForce | None) -> RulesInForce | None:
    if loaded is None:
        return None
    at = loaded.loaded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return RulesInForce(loaded.content_hash, at, loaded.sources)


def results(run: PolicyTestRun) -> Results:
    rows = [
        ResultRow(r.case, r.item.value, r.expected.value, r.actual.value, ", ".join(r.rule_ids), r.ok) for r in run.rows
    ]
    rows += [ResultRow(r.case, "ask", r.expected, r.actual, ", ".join(r.rule_ids), r.ok) for r in run.ask_rows]
    failed = sum(not r.ok for r in rows)
    return Results(tuple(rows), len(rows) - failed, failed)

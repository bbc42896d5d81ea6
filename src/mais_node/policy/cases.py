"""Policy tests for IG officers: decision rules tested like code (DESIGN §6; issue 5 §5, ``mais policy test``).

A case file is JSON::

    {"description": "...",
     "defaults": {<request fields shared by the cases>},
     "cases": [{"name": "...", "request": {<request fields>},
                "expect": {"is-known": "PERMIT", "contact": {"outcome": "REVIEW", "rules": ["<rule id>", ...]}}}]}

Request fields: ``requester`` {``ods``, ``type``, ``operationalStatus``, ``technicalStatus``, ``verified``},
``client``, ``purpose``, ``legalBasis``, ``items`` (default: the items of ``expect``), ``sharingPolicies``
(identifiers of agreements the node holds; their current version is claimed), ``dataCategory`` (default
each item's own), ``matchGrade`` (null before matching), ``consent`` (the consent element: ``given``, ``refused``,
``not-sought-risk``; default ``not-stated``, as a request without one), ``time`` (ISO 8601 with a zone). A case's
``requester`` is merged over the defaults' one. Expected rule ids, when given, must match as a set. A file whose top
level says ``"action": "ask"`` tests this node's rules on asking instead (``ask_cases.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mais_node.errors import InvalidRequest, Issue
from mais_node.policy.model import CONSENT_NOT_STATED, DecisionRequest, Item, MatchGrade, Outcome, Requester
from mais_node.policy.port import PolicyEngine
from mais_node.policy.sharing_policy import SharingPolicy, current_versions


@dataclass(frozen=True, slots=True)
class Expectation:
    outcome: Outcome
    rule_ids: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class PolicyCase:
    name: str
    request: DecisionRequest
    expected: Mapping[Item, Expectation]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One row of the result table: one item of one case."""

    case: str
    item: Item
    expected: Outcome
    actual: Outcome
    rule_ids: tuple[str, ...]
    expected_rule_ids: tuple[str, ...] | None
    ok: bool


def load_cases(directory: Path, sharing_policies: Iterable[SharingPolicy] = ()) -> list[PolicyCase]:
    """Every case of every ``*.json`` file under ``directory`` (recursively, in path order)."""
    held = {policy.identifier: policy for policy in current_versions(list(sharing_policies))}
    files = sorted(directory.rglob("*.json"))
    if not files:
        raise InvalidRequest(f"no policy-test case files (*.json) under {directory}")
    cases: list[PolicyCase] = []
    for path in files:
        label = path.relative_to(directory).as_posix()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _problem(label, "is not a readable JSON document") from exc
        if isinstance(document, dict) and document.get("action") == "ask":
            continue  # a case file of this node's rules on asking (policy/ask_cases.py)
        cases.extend(_file_cases(label, document, held))
    return cases


def run_cases(cases: Sequence[PolicyCase], engine: PolicyEngine) -> list[CaseResult]:
    rows = []
    for case in cases:
        decision = engine.decide(case.request)
        for item, expectation in case.expected.items():
            decided = decision.of(item)
            rules_ok = expectation.rule_ids is None or set(decided.rule_ids) == expectation.rule_ids
            expected_ids = None if expectation.rule_ids is None else tuple(sorted(expectation.rule_ids))
            rows.append(
                CaseResult(
                    case.name,
                    item,
                    expectation.outcome,
                    decided.outcome,
                    decided.rule_ids,
                    expected_ids,
                    decided.outcome == expectation.outcome and rules_ok,
                )
            )
    return rows


def all_passed(rows: Sequence[CaseResult]) -> bool:
    return all(row.ok for row in rows)


def render_table(rows: Sequence[CaseResult]) -> str:
    """A plain-text table, one line per case and item, with a summary line."""
    header = ("case", "item", "expected", "actual", "rule ids", "ok")
    lines = [
        (
            row.case,
            row.item.value,
            row.expected.value,
            row.actual.value,
            ", ".join(row.rule_ids),
            "ok" if row.ok else _failure(row),
        )
        for row in rows
    ]
    widths = [max(len(cells[n]) for cells in (header, *lines)) for n in range(len(header) - 1)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)) + "  " + cells[-1]
        for cells in (header, *lines)
    ]
    failed = sum(not row.ok for row in rows)
    text.append(f"{len(rows) - failed} passed, {failed} failed")
    return "\n".join(line.rstrip() for line in text)


def _failure(row: CaseResult) -> str:
    if row.expected != row.actual or row.expected_rule_ids is None:
        return "FAIL"
    return f"FAIL (expected rules: {', '.join(row.expected_rule_ids)})"


def _file_cases(label: str, document: object, held: Mapping[str, SharingPolicy]) -> list[PolicyCase]:
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise _problem(label, 'expected an object with a "cases" list')
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _problem(label, '"defaults" must be an object')
    cases = []
    for n, raw in enumerate(document["cases"]):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{label} case {name or n + 1}"
        if not isinstance(raw, dict) or not isinstance(name, str):
            raise _problem(where, 'each case is an object with a "name"')
        try:
            expected = _expectations(raw.get("expect"))
            fields = {**defaults, **raw.get("request", {})}
            fields["requester"] = {**defaults.get("requester", {}), **raw.get("request", {}).get("requester", {})}
            cases.append(PolicyCase(f"{label}: {name}", _request(fields, expected, held), expected))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _problem(where, f"is malformed ({type(exc).__name__}: {exc})") from exc
    return cases


def _expectations(raw: object) -> dict[Item, Expectation]:
    if not isinstance(raw, dict) or not raw:
        raise ValueError('"expect" must map each item to an outcome')
    expected = {}
    for item, value in raw.items():
        spec = value if isinstance(value, dict) else {"outcome": value}
        rules = spec.get("rules")
        expected[Item(item)] = Expectation(
            Outcome(str(spec["outcome"]).upper()), None if rules is None else frozenset(map(str, rules))
        )
    return expected


def _request(
    fields: dict[str, object], expected: Mapping[Item, Expectation], held: Mapping[str, SharingPolicy]
) -> DecisionRequest:
    requester = fields["requester"]
    if not isinstance(requester, dict):
        raise TypeError("requester must be an object")
    at = datetime.fromisoformat(str(fields["time"]))
    if at.tzinfo is None:
        raise ValueError("time must carry a zone (e.g. Z)")
    claimed = []
    for identifier in _strings(fields.get("sharingPolicies", [])):
        if identifier not in held:
            raise ValueError(f"claims sharing policy {identifier!r}, which the node does not hold")
        claimed.append(held[identifier].claim())
    grade = fields.get("matchGrade")
    items = tuple(expected) if fields.get("items") is None else tuple(map(Item, _strings(fields["items"])))
    if not set(expected) <= set(items):
        raise ValueError("expects a decision on an item the request does not ask for")
    return DecisionRequest(
        requester=Requester(
            ods=str(requester["ods"]),
            type=str(requester["type"]),
            operational_status=str(requester["operationalStatus"]),
            technical_status=str(requester["technicalStatus"]),
            verified=requester["verified"] is True,
        ),
        client_id=str(fields.get("client", "policy-test")),
        purpose=str(fields["purpose"]),
        legal_basis=str(fields.get("legalBasis", "")),
        items=items,
        at=at,
        sharing_policies=tuple(claimed),
        data_category=None if fields.get("dataCategory") is None else str(fields["dataCategory"]),
        match_grade=None if grade is None else MatchGrade(str(grade)),
        consent=str(fields.get("consent", CONSENT_NOT_STATED)),
    )


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of text values")
    return list(value)


def _problem(where: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{where} {message}", issues=[Issue(f"{where} {message}", "invalid", expression=(where,))])

"""Policy tests of this node's rules on asking (``policy/asking.py``), run by ``mais policy test`` beside the decision
cases: a case file whose top level says ``"action": "ask"``::

    {"action": "ask", "description": "...",
     "defaults": {"node": {"ods": "LA0001", "type": "la-childrens-social-care"}, "client": "cms",
                  "purpose": "s47-enquiry", "items": ["is-known"], "area": null, "named": false},
     "cases": [{"name": "...", "request": {"partner": {"ods": "GOV001", "type": "central-government",
                                                      "areas": []}},
                "expect": {"outcome": "NOT_ASKED", "rules": ["<rule id>", ...]}}]}

``outcome`` is ``ASK`` or ``NOT_ASKED``; expected rule ids, when given, must match as a set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mais_node.errors import InvalidRequest, Issue
from mais_node.policy.asking import Asking, AskRules, Target

ASK, NOT_ASKED = "ASK", "NOT_ASKED"


@dataclass(frozen=True, slots=True)
class AskCase:
    name: str
    asking: Asking
    target: Target
    outcome: str
    rule_ids: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class AskResult:
    case: str
    expected: str
    actual: str
    rule_ids: tuple[str, ...]
    ok: bool


def is_ask_file(document: object) -> bool:
    return isinstance(document, dict) and document.get("action") == "ask"


def load_ask_cases(directory: Path) -> list[AskCase]:
    """Every case of every ask case file under ``directory`` (recursively, in path order)."""
    cases: list[AskCase] = []
    for path in sorted(directory.rglob("*.json")):
        label = path.relative_to(directory).as_posix()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _problem(label, "is not a readable JSON document") from exc
        if is_ask_file(document):
            cases.extend(_file_cases(label, document))
    return cases


def run_ask_cases(cases: Sequence[AskCase], rules: AskRules) -> list[AskResult]:
    results = []
    for case in cases:
        (decision,) = rules.decide(case.asking, [case.target])
        actual = ASK if decision.allowed else NOT_ASKED
        rules_ok = case.rule_ids is None or set(decision.rule_ids) == case.rule_ids
        results.append(
            AskResult(case.name, case.outcome, actual, decision.rule_ids, actual == case.outcome and rules_ok)
        )
    return results


def render_ask_table(results: Sequence[AskResult]) -> str:
    header = ("case", "expected", "actual", "rule ids", "ok")
    lines = [(r.case, r.expected, r.actual, ", ".join(r.rule_ids), "ok" if r.ok else "FAIL") for r in results]
    widths = [max(len(cells[n]) for cells in (header, *lines)) for n in range(len(header) - 1)]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + "  " + cells[-1]
        for cells in (header, *lines)
    ]
    failed = sum(not r.ok for r in results)
    text.append(f"asking: {len(results) - failed} passed, {failed} failed")
    return "\n".join(line.rstrip() for line in text)


def _file_cases(label: str, document: dict[str, Any]) -> list[AskCase]:
    if not isinstance(document.get("cases"), list):
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
            fields = {**defaults, **raw.get("request", {})}
            expect = raw["expect"]
            outcome = str(expect["outcome"]).upper()
            if outcome not in (ASK, NOT_ASKED):
                raise ValueError(f"outcome must be {ASK} or {NOT_ASKED}")
            rules = expect.get("rules")
            cases.append(
                AskCase(
                    f"{label}: {name}",
                    _asking(fields),
                    _target(fields["partner"]),
                    outcome,
                    None if rules is None else frozenset(map(str, rules)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _problem(where, f"is malformed ({type(exc).__name__}: {exc})") from exc
    return cases


def _asking(fields: dict[str, Any]) -> Asking:
    node = fields["node"]
    area = fields.get("area")
    return Asking(
        node_ods=str(node["ods"]),
        node_type=str(node["type"]),
        client=str(fields.get("client", "policy-test")),
        purpose=str(fields["purpose"]),
        items=tuple(map(str, fields["items"])),
        area=None if area is None else str(area),
        named=fields.get("named") is True,
    )


def _target(partner: dict[str, Any]) -> Target:
    return Target(str(partner["ods"]), str(partner["type"]), tuple(map(str, partner.get("areas", []))))


def _problem(where: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{where} {message}", issues=[Issue(f"{where} {message}", "invalid", expression=(where,))])

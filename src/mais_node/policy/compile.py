"""Compile sharing policies into Cedar decision rules (DESIGN §6; issue 5 §4).

Each clause of an agreement becomes one Cedar policy whose ``@id`` names the agreement, its version and the
clause (``dsa:LA0001-NODE01-2026:v1:clause:permitted-use-1``). A compiled rule applies only when the requester
claimed the agreement, is one of its parties other than this node, asserts one of its purposes, asks about
one of its data categories, and the enquiry falls within its dates: the hard gates check the claim first,
the rule checks it again, so a rule set never grants more than the agreement says.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, timedelta

from mais_node.errors import Issue, NotConformant
from mais_node.policy.model import Clause, ClauseEffect, Item
from mais_node.policy.ruleset import PolicySource
from mais_node.policy.sharing_policy import SharingPolicy, current_versions

SOURCE_PREFIX = "sharing-policy:"


def compile_sharing_policy(policy: SharingPolicy, node_ods: str) -> PolicySource:
    """The Cedar policies of one agreement version, as a named policy source."""
    requesters = sorted(policy.party_codes - {node_ods})
    problems = []
    if node_ods not in policy.party_codes:
        problems.append(f"{policy.key} does not name this node's organisation {node_ods} as a party")
    if not requesters:
        problems.append(f"{policy.key} names no party besides this node")
    if problems:
        raise NotConformant(
            problems[0],
            issues=[Issue(text, "invalid", expression=("SharingPolicy.Party",)) for text in problems],
        )
    conditions = _conditions(policy, requesters)
    text = "\n\n".join(_clause(policy, clause, conditions) for clause in policy.clauses())
    return PolicySource(f"{SOURCE_PREFIX}{policy.identifier}:v{policy.version}", text)


def compile_sharing_policies(policies: Iterable[SharingPolicy], node_ods: str) -> tuple[PolicySource, ...]:
    """The current version of every agreement the node holds, compiled; retired agreements compile to nothing."""
    current = sorted(current_versions(list(policies)), key=lambda policy: policy.identifier)
    return tuple(compile_sharing_policy(policy, node_ods) for policy in current)


def _conditions(policy: SharingPolicy, requesters: list[str]) -> list[str]:
    principals = ", ".join(f"Organisation::{_string(code)}" for code in requesters)
    categories = ", ".join(f"DataCategory::{_string(code)}" for code in sorted(policy.data_categories))
    purposes = ", ".join(_string(code) for code in sorted(set(policy.purposes)))
    return [
        f"context.sharingPolicies.contains({_string(policy.identifier)})",
        f"[{principals}].contains(principal)",
        f"[{purposes}].contains(context.purpose)",
        f"[{categories}].contains(resource)",
        f"context.time >= datetime({_string(_midnight(policy.start))})",
        f"context.time < datetime({_string(_midnight(policy.end + timedelta(days=1)))})",
    ]


def _clause(policy: SharingPolicy, clause: Clause, conditions: list[str]) -> str:
    effect = "permit" if clause.effect is ClauseEffect.PERMIT else "forbid"
    actions = ", ".join(f'Action::"item:{item.value}"' for item in Item if item in clause.items)
    body = " &&\n  ".join(conditions)
    return (
        f"@id({_string(clause.rule_id)})\n"
        f"@agreement({_string(policy.identifier)})\n"
        f'@version("{policy.version}")\n'
        f"{effect} (principal, action in [{actions}], resource)\n"
        f"when {{\n  {body}\n}};"
    )


def _midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _string(value: str) -> str:
    """A Cedar string literal; values are already restricted to safe identifiers by the parser."""
    return json.dumps(value, ensure_ascii=True)

"""Fixtures of the policy tests: the deployed rule set, the demo agreement, a valid request builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mais_node.adapters.cedar import CedarPolicyEngine
from mais_node.config import DEFAULTS
from mais_node.policy import (
    DecisionRequest,
    Item,
    Requester,
    RuleSet,
    SharingPolicy,
    compile_sharing_policies,
    load_rule_set,
    read_sharing_policy,
)

ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = DEFAULTS / "rules"
CASES_DIR = RULES_DIR / "tests"
SHARING_POLICIES_DIR = DEFAULTS / "sharing-policies"
NODE = "NODE01"
IN_FORCE = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def demo_agreement() -> SharingPolicy:
    return read_sharing_policy(SHARING_POLICIES_DIR / "LA0001-NODE01-2026.json")


@pytest.fixture
def held_policies() -> list[SharingPolicy]:
    return [read_sharing_policy(path) for path in sorted(SHARING_POLICIES_DIR.glob("*.json"))]


@pytest.fixture
def deployed_rules(held_policies: list[SharingPolicy]) -> RuleSet:
    return load_rule_set(RULES_DIR, compile_sharing_policies(held_policies, NODE))


@pytest.fixture
def engine(deployed_rules: RuleSet) -> CedarPolicyEngine:
    engine = CedarPolicyEngine()
    engine.load(deployed_rules)
    return engine


def _s47_request(**changes: Any) -> DecisionRequest:
    requester = Requester("LA0001", "la-childrens-social-care", "active", "active", verified=True)
    request = DecisionRequest(
        requester=requester,
        client_id="la0001-case-management",
        purpose="s47-enquiry",
        legal_basis="https://www.legislation.gov.uk/ukpga/1989/41/section/47",
        items=(Item.IS_KNOWN, Item.IS_OPEN, Item.CONTACT),
        at=IN_FORCE,
    )
    requester_changes = changes.pop("requester", {})
    return replace(request, requester=replace(requester, **requester_changes), **changes)


@pytest.fixture
def s47_request() -> Callable[..., DecisionRequest]:
    """Builds a valid s47 enquiry from the demo local authority; a test changes only what it is about."""
    return _s47_request


@pytest.fixture
def cases_dir() -> Path:
    return CASES_DIR

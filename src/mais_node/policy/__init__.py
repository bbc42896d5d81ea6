"""Decision rules and sharing policies (DESIGN §6; issue 5 §3-§5): the domain side, with no Cedar import.

The Cedar engine lives in ``mais_node.adapters.cedar``; ``fake.FakePolicyEngine`` stands in for it in tests.
"""

from mais_node.policy.compile import compile_sharing_policies, compile_sharing_policy
from mais_node.policy.model import (
    CONSENT_NOT_STATED,
    ClaimedPolicy,
    Clause,
    ClauseEffect,
    Decision,
    DecisionRequest,
    Item,
    ItemDecision,
    MatchGrade,
    Outcome,
    Requester,
)
from mais_node.policy.outcome import DEFAULT_DENY, EVALUATION_ERROR
from mais_node.policy.port import PolicyEngine
from mais_node.policy.ruleset import PolicySource, RuleSet, load_rule_set
from mais_node.policy.sharing_policy import (
    SharingPolicy,
    current_versions,
    parse_sharing_policy,
    read_sharing_policy,
)

__all__ = [
    "CONSENT_NOT_STATED",
    "DEFAULT_DENY",
    "EVALUATION_ERROR",
    "ClaimedPolicy",
    "Clause",
    "ClauseEffect",
    "Decision",
    "DecisionRequest",
    "Item",
    "ItemDecision",
    "MatchGrade",
    "Outcome",
    "PolicyEngine",
    "PolicySource",
    "Requester",
    "RuleSet",
    "SharingPolicy",
    "compile_sharing_policies",
    "compile_sharing_policy",
    "current_versions",
    "load_rule_set",
    "parse_sharing_policy",
    "read_sharing_policy",
]

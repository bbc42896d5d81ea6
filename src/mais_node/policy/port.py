"""The policy-engine port: load a rule set, decide a request, check a rule set (DESIGN §6, issue 5 §3).

The Cedar adapter (``mais_node.adapters.cedar``) is the real engine; ``mais_node.policy.fake`` applies the
national default rules in plain Python for other areas' fast tests.
"""

from __future__ import annotations

from typing import Protocol

from mais_node.errors import Issue
from mais_node.policy.model import Decision, DecisionRequest
from mais_node.policy.ruleset import RuleSet


class PolicyEngine(Protocol):
    def load(self, rule_set: RuleSet) -> None:
        """Validate and switch to ``rule_set``; raise ``NotConformant`` and keep the last good set if invalid."""
        ...

    def decide(self, request: DecisionRequest) -> Decision:
        """One decision per requested item, by the loaded rule set; ``Unavailable`` if none is loaded."""
        ...

    def check(self, rule_set: RuleSet) -> list[Issue]:
        """Every problem that would make ``load`` refuse ``rule_set`` (empty when it is valid)."""
        ...

    @property
    def rule_set_hash(self) -> str | None:
        """The content hash of the loaded rule set, or None before the first load."""
        ...

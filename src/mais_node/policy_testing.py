"""``mais policy test`` as a service (issue 16 §6): run a folder of IG officers' cases against the rules, for the
command line and the console's rules page alike.

The rules are those of ``rules_dir`` (default: the node's) compiled with the sharing policies the node holds and
those of ``agreements`` (default: the package's example agreements beside the rules); this node's rules on asking
decide the cases written for them. A folder that cannot be read or a rule set that does not load is a
:class:`~mais_node.errors.MaisError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mais_node.policy.ask_cases import AskResult
from mais_node.policy.cases import CaseResult, all_passed

if TYPE_CHECKING:
    from mais_node.adapters.cedar_asking import CedarAskRules
    from mais_node.wiring import Services


@dataclass(frozen=True, slots=True)
class PolicyTestRun:
    rows: list[CaseResult]  # one per item of each decision case
    ask_rows: list[AskResult]  # one per case on this node's rules on asking

    @property
    def ok(self) -> bool:
        return all_passed(self.rows) and all(r.ok for r in self.ask_rows)


def run_policy_tests(
    services: Services, directory: Path, *, rules: Path | None = None, agreements: Path | None = None
) -> PolicyTestRun:
    from mais_node.adapters.cedar import CedarPolicyEngine
    from mais_node.policy import compile_sharing_policies, load_rule_set, read_sharing_policy
    from mais_node.policy.ask_cases import load_ask_cases, run_ask_cases
    from mais_node.policy.cases import load_cases, run_cases

    rules_dir = rules or services.settings.rules_dir
    folder = agreements or services.settings.rules_dir.parent / "sharing-policies"
    files = [read_sharing_policy(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    held = [*services.rules.agreements.held(), *files]
    engine = CedarPolicyEngine()
    engine.load(load_rule_set(rules_dir, compile_sharing_policies(held, services.settings.node_org)))
    rows = run_cases(load_cases(directory, held), engine)
    asked = load_ask_cases(directory)
    ask_rows = run_ask_cases(asked, _ask_rules(rules_dir)) if asked else []
    return PolicyTestRun(rows, ask_rows)


def _ask_rules(rules_dir: Path) -> CedarAskRules:
    """This node's rules on asking, loaded now (a refusal is the run's error)."""
    from mais_node.adapters.cedar_asking import CedarAskRules
    from mais_node.config import DEFAULTS
    from mais_node.policy.asking import ASKING_DIR

    ask = CedarAskRules(rules_dir if (rules_dir / ASKING_DIR).is_dir() else DEFAULTS / "rules")
    ask.load()
    return ask

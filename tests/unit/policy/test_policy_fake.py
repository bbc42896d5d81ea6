"""The fake policy engine: agrees with Cedar on the national rules, and can be told to refuse a rule set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mais_node.adapters.cedar import CedarPolicyEngine
from mais_node.errors import Issue, NotConformant
from mais_node.policy import DecisionRequest, Item, MatchGrade, Outcome, RuleSet, SharingPolicy
from mais_node.policy.cases import load_cases, run_cases
from mais_node.policy.fake import NATIONAL_DEFAULTS_HASH, FakePolicyEngine


def test_the_fake_agrees_with_cedar_on_every_national_case(
    engine: CedarPolicyEngine, held_policies: list[SharingPolicy], cases_dir: Path
) -> None:
    cases = load_cases(cases_dir / "national", held_policies)

    real = [(row.case, row.item, row.actual, set(row.rule_ids)) for row in run_cases(cases, engine)]
    fake = [(row.case, row.item, row.actual, set(row.rule_ids)) for row in run_cases(cases, FakePolicyEngine())]

    assert fake == real
    assert len(real) > 30


@pytest.mark.parametrize("grade", [None, *MatchGrade])
@pytest.mark.parametrize("purpose", ["s47-enquiry", "general-safeguarding", "already-open", "unknown"])
def test_the_fake_agrees_with_cedar_on_every_purpose_and_grade(
    engine: CedarPolicyEngine,
    s47_request: Callable[..., DecisionRequest],
    demo_agreement: SharingPolicy,
    purpose: str,
    grade: MatchGrade | None,
) -> None:
    for claimed in ((), (demo_agreement.claim(),)):
        request = s47_request(purpose=purpose, match_grade=grade, sharing_policies=claimed)

        assert FakePolicyEngine().decide(request).items == engine.decide(request).items


def test_the_fake_is_ready_without_loading(s47_request: Callable[..., DecisionRequest]) -> None:
    decision = FakePolicyEngine().decide(s47_request(items=(Item.IS_KNOWN,)))

    assert decision.outcome is Outcome.PERMIT
    assert decision.rule_set_hash == NATIONAL_DEFAULTS_HASH


def test_the_fake_records_loads_and_refuses_when_told(deployed_rules: RuleSet) -> None:
    fake = FakePolicyEngine()
    fake.load(deployed_rules)
    fake.refusals.append(Issue("national.cedar: broken"))

    with pytest.raises(NotConformant):
        fake.load(RuleSet("", ()))

    assert fake.check(deployed_rules) == [Issue("national.cedar: broken")]
    assert fake.loaded == [deployed_rules]
    assert fake.rule_set_hash == deployed_rules.content_hash

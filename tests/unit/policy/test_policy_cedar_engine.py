"""The Cedar policy engine against the deployed rules: decisions, rule ids, refusal of invalid rule sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from mais_node.adapters.cedar import CedarPolicyEngine
from mais_node.config import DEFAULTS
from mais_node.errors import InvalidRequest, NotConformant, Unavailable
from mais_node.policy import (
    DEFAULT_DENY,
    DecisionRequest,
    Item,
    MatchGrade,
    Outcome,
    PolicySource,
    RuleSet,
    SharingPolicy,
    compile_sharing_policy,
    load_rule_set,
)
from mais_node.policy.cases import load_cases, render_table, run_cases
from mais_node.policy.outcome import EVALUATION_ERROR

Build = Callable[..., DecisionRequest]
NODE = "NODE01"
RULES_DIR = DEFAULTS / "rules"


def test_every_policy_test_case_passes_against_the_deployed_rules(
    engine: CedarPolicyEngine, held_policies: list[SharingPolicy], cases_dir: Path
) -> None:
    rows = run_cases(load_cases(cases_dir, held_policies), engine)

    assert len(rows) > 40
    assert all(row.ok for row in rows), render_table(rows)


def test_one_decision_per_requested_item_in_request_order(engine: CedarPolicyEngine, s47_request: Build) -> None:
    request = s47_request(items=(Item.CONTACT, Item.IS_KNOWN))

    decision = engine.decide(request)

    assert [decided.item for decided in decision] == [Item.CONTACT, Item.IS_KNOWN]
    assert decision.rule_set_hash == engine.rule_set_hash
    assert decision.rule_ids == ("national:s47:contact-on-certain-match", "national:s47:statutory-gateway")


def test_a_probable_match_is_referred_with_the_rule_that_stopped_the_answer(
    engine: CedarPolicyEngine, s47_request: Build
) -> None:
    decision = engine.decide(s47_request().at_release(MatchGrade.PROBABLE))

    assert decision.outcome is Outcome.REVIEW
    assert decision.of(Item.IS_KNOWN).reasons == (
        "automatic answer forbidden by national:match:probable-needs-review",
        "referred for review by national:s47:statutory-gateway",
    )


def test_default_deny_names_no_rule_but_the_default(engine: CedarPolicyEngine, s47_request: Build) -> None:
    decided = engine.decide(s47_request(purpose="curiosity")).of(Item.IS_KNOWN)

    assert (decided.outcome, decided.rule_ids) == (Outcome.DENY, (DEFAULT_DENY,))


def test_an_agreement_outside_its_dates_permits_nothing_even_if_claimed(
    engine: CedarPolicyEngine, s47_request: Build, demo_agreement: SharingPolicy
) -> None:
    after_end = datetime.fromisoformat("2029-01-01T00:00:00+00:00")
    request = s47_request(purpose="general-safeguarding", sharing_policies=(demo_agreement.claim(),), at=after_end)

    decision = engine.decide(request)

    assert {decided.outcome for decided in decision} == {Outcome.REVIEW}


def test_an_agreement_claimed_by_an_organisation_it_does_not_name_permits_nothing(
    engine: CedarPolicyEngine, s47_request: Build, demo_agreement: SharingPolicy
) -> None:
    request = s47_request(
        purpose="general-safeguarding", sharing_policies=(demo_agreement.claim(),), requester={"ods": "LA0009"}
    )

    assert engine.decide(request).outcome is Outcome.REVIEW


def test_a_local_forbid_wins_over_an_agreement_that_grants_the_contact(
    deployed_rules: RuleSet, s47_request: Build, demo_agreement: SharingPolicy
) -> None:
    for_government = replace(
        demo_agreement,
        identifier="GOV001-NODE01",
        parties=(*demo_agreement.parties[1:], replace(demo_agreement.parties[0], catalogue_ids=("GOV001",))),
    )
    engine = CedarPolicyEngine()
    engine.load(deployed_rules.with_sources([compile_sharing_policy(for_government, NODE)]))
    request = s47_request(
        purpose="general-safeguarding",
        sharing_policies=(for_government.claim(),),
        requester={"ods": "GOV001", "type": "central-government"},
    )

    decision = engine.decide(request)

    assert decision.of(Item.IS_KNOWN).outcome is Outcome.PERMIT
    assert decision.of(Item.CONTACT).outcome is Outcome.DENY
    assert decision.of(Item.CONTACT).rule_ids == ("local:forbid:contact-to-central-government",)


def test_an_agreement_restriction_forbids_the_item_under_that_agreement(
    s47_request: Build, demo_agreement: SharingPolicy
) -> None:
    restricted = replace(demo_agreement, restrictions=("contact",))
    engine = CedarPolicyEngine()
    engine.load(load_rule_set(RULES_DIR, [compile_sharing_policy(restricted, NODE)]))

    decision = engine.decide(s47_request(purpose="general-safeguarding", sharing_policies=(restricted.claim(),)))

    assert decision.of(Item.CONTACT).outcome is Outcome.DENY
    assert decision.of(Item.CONTACT).rule_ids == ("dsa:LA0001-NODE01-2026:v1:clause:restriction-1",)
    assert decision.of(Item.IS_KNOWN).outcome is Outcome.PERMIT


def test_a_rule_that_fails_at_evaluation_denies_the_item_rather_than_being_skipped(
    deployed_rules: RuleSet, s47_request: Build
) -> None:
    overflowing = '@id("local:overflow") forbid (principal, action, resource) when { 9223372036854775807 + 1 > 0 };'
    engine = CedarPolicyEngine()
    engine.load(_with_local(deployed_rules, overflowing))

    decision = engine.decide(s47_request(items=(Item.IS_KNOWN,)))

    assert decision.of(Item.IS_KNOWN).rule_ids == (EVALUATION_ERROR,)
    assert decision.outcome is Outcome.DENY
    assert any("overflow" in error for error in decision.evaluation_errors)


def test_a_request_that_does_not_fit_the_schema_is_denied(engine: CedarPolicyEngine, s47_request: Build) -> None:
    unfit = s47_request(requester={"verified": "yes"})

    assert {decided.rule_ids for decided in engine.decide(unfit)} == {(EVALUATION_ERROR,)}


def test_deciding_before_any_rule_set_is_loaded_is_unavailable(s47_request: Build) -> None:
    with pytest.raises(Unavailable):
        CedarPolicyEngine().decide(s47_request())


def test_a_time_without_a_zone_is_refused(engine: CedarPolicyEngine, s47_request: Build) -> None:
    with pytest.raises(InvalidRequest):
        engine.decide(s47_request(at=datetime(2026, 6, 1, 10, 0)))


def _with_local(rules: RuleSet, text: str) -> RuleSet:
    return rules.with_sources([PolicySource("local/99-broken.cedar", text)])


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('@id("local:x") permit (principal, action, resource', "does not parse"),
        ('@id("local:x") permit (principal, action, resource) when { principal.colour == "red" };', "colour"),
        ('permit (principal, action, resource) when { context.purpose == "x" };', "no @id"),
        ('@id("national:s47:statutory-gateway") forbid (principal, action, resource);', "more than once"),
        ('@id("local:t") permit (principal == ?principal, action, resource);', "templates"),
    ],
    ids=["parse-error", "schema-error", "missing-id", "duplicate-id", "template"],
)
def test_an_invalid_rule_set_is_refused_whole_and_the_last_good_one_stays(
    engine: CedarPolicyEngine, deployed_rules: RuleSet, s47_request: Build, text: str, complaint: str
) -> None:
    good_hash = engine.rule_set_hash
    broken = _with_local(deployed_rules, text)

    with pytest.raises(NotConformant) as refused:
        engine.load(broken)

    assert any(complaint in issue.diagnostics for issue in refused.value.issues)
    assert any("local/99-broken.cedar" in issue.expression for issue in refused.value.issues)
    assert engine.rule_set_hash == good_hash
    assert engine.decide(s47_request()).outcome is Outcome.PERMIT


def test_a_schema_that_does_not_parse_is_refused(engine: CedarPolicyEngine, deployed_rules: RuleSet) -> None:
    issues = engine.check(RuleSet("entity Organisation = {", deployed_rules.sources))

    assert [issue.expression for issue in issues] == [("schema",)]


def test_check_reports_without_loading(engine: CedarPolicyEngine, deployed_rules: RuleSet) -> None:
    good_hash = engine.rule_set_hash
    broken = _with_local(deployed_rules, '@id("local:x") permit (principal, action, resource) when { 1 };')

    assert engine.check(deployed_rules) == []
    assert len(engine.check(broken)) == 1
    assert engine.rule_set_hash == good_hash


def test_a_valid_reload_switches_the_rule_set(engine: CedarPolicyEngine, deployed_rules: RuleSet) -> None:
    stricter = _with_local(deployed_rules, '@id("local:forbid:everything") forbid (principal, action, resource);')

    engine.load(stricter)

    assert engine.rule_set_hash == stricter.content_hash != deployed_rules.content_hash

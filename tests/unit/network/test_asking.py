"""This node's own rules on asking (issue 15 item 3), on real Cedar over the shipped ``rules/asking`` folder: the
defaults ask every partner chosen, the shipped example forbid bites only where it says, a local forbid turns a
partner into a NOT_ASKED row naming the rule, and the files are data (an edit is picked up, a broken one refused)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mais_node.adapters.cedar_asking import CedarAskRules, check
from mais_node.config import DEFAULTS
from mais_node.errors import NotConformant, Unavailable
from mais_node.network.rows import RowState
from mais_node.network.targets import screen, select
from mais_node.policy.asking import FORBIDDEN_HERE, AskDecision, AskEveryone, Asking, Target, load_asking_rules
from mais_node.policy.outcome import DEFAULT_DENY
from tests.unit.network.test_targets import RELEVANT, network

S47 = Asking("LA0001", "la-childrens-social-care", "cms-1", "s47-enquiry", ("is-known", "is-open"))
PARTNERS = [
    Target("POL001", "police", ("E08000035",)),
    Target("SCH001", "school"),
    Target("GOV001", "central-government"),
]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(DEFAULTS / "rules", tmp_path / "rules")
    return tmp_path / "rules"


def loaded(rules_dir: Path) -> CedarAskRules:
    rules = CedarAskRules(rules_dir)
    rules.load()
    return rules


def test_the_shipped_rules_on_asking_are_valid() -> None:
    issues, ready = check(load_asking_rules(DEFAULTS / "rules"))
    assert issues == []
    assert ready is not None


def test_the_defaults_ask_every_partner_chosen_but_central_government_in_an_s47_enquiry(rules_dir: Path) -> None:
    decisions = loaded(rules_dir).decide(S47, PARTNERS)
    assert decisions == [
        AskDecision(True, ("ask:permit:chosen-partners",)),
        AskDecision(True, ("ask:permit:chosen-partners",)),
        AskDecision(False, ("local:ask:forbid:central-government-in-s47",)),
    ]
    general = Asking("LA0001", "la-childrens-social-care", "cms-1", "general-safeguarding", ("is-known",))
    assert all(d.allowed for d in loaded(rules_dir).decide(general, PARTNERS))


def test_a_rule_sees_the_partners_areas_and_the_question(rules_dir: Path) -> None:
    (rules_dir / "asking" / "local" / "20-area.cedar").write_text(
        '@id("local:ask:forbid:outside-the-area")\n'
        'forbid (principal, action == Action::"ask", resource)\n'
        'when { context.area != "" && !(resource.areas.contains(context.area)) && context.items.contains("is-open") '
        '&& !context.named && principal.type == "la-childrens-social-care" };\n'
    )
    rules = loaded(rules_dir)
    in_leeds = Asking("LA0001", "la-childrens-social-care", "cms-1", "s47-enquiry", ("is-open",), area="E08000035")
    assert [d.allowed for d in rules.decide(in_leeds, PARTNERS[:2])] == [True, False]
    named = Asking("LA0001", "la-childrens-social-care", "cms-1", "s47-enquiry", ("is-open",), "E08000035", True)
    assert [d.allowed for d in rules.decide(named, PARTNERS[:2])] == [True, True]


def test_nothing_is_asked_unless_a_rule_permits_it(rules_dir: Path) -> None:
    (rules_dir / "asking" / "national.cedar").unlink()
    assert loaded(rules_dir).decide(S47, PARTNERS[:1]) == [AskDecision(False, (DEFAULT_DENY,))]


def test_an_edited_file_is_picked_up_and_a_broken_one_refused_keeping_the_last_good(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    forbid = rules_dir / "asking" / "local" / "30-no-police.cedar"
    forbid.write_text(
        '@id("local:ask:forbid:police")\nforbid (principal, action, resource) when { resource.type == "police" };\n'
    )
    assert rules.decide(S47, PARTNERS[:1]) == [AskDecision(False, ("local:ask:forbid:police",))]
    good = rules.rule_set_hash
    forbid.write_text(
        '@id("local:ask:forbid:police")\nforbid (principal, action, resource) when { resource.kind == 1 };\n'
    )
    assert rules.decide(S47, PARTNERS[:1]) == [AskDecision(False, ("local:ask:forbid:police",))]
    assert rules.rule_set_hash == good
    with pytest.raises(NotConformant, match="last good ones stay"):
        rules.load()


def test_with_no_good_rules_at_all_nothing_is_asked(rules_dir: Path) -> None:
    shutil.rmtree(rules_dir / "asking")
    rules = CedarAskRules(rules_dir)
    with pytest.raises(NotConformant, match=r"lacks asking/schema\.cedarschema"):
        rules.load()
    with pytest.raises(Unavailable, match="no valid rules on asking"):
        rules.decide(S47, PARTNERS)


def test_screening_turns_a_forbidden_partner_into_a_not_asked_row_naming_the_rules() -> None:
    chosen = select(network(), purpose="s47-enquiry", relevant=RELEVANT, own_ods="LA0001")
    screened = screen(chosen, AskEveryone(forbid_types=["school"]), S47)
    assert [p.ods for p in screened.partners] == ["GP0001", "HV0001", "LA0002", "POL001"]
    row = next(r for r in screened.not_asked if r.organisation == "SCH001")
    assert (row.state, row.verdict.reason, row.verdict.rules) == (RowState.NOT_ASKED, FORBIDDEN_HERE, ("fake:forbid",))
    assert row.endpoint == "https://sch001.example/fhir"
    assert [r.organisation for r in screened.not_asked] == sorted(r.organisation for r in screened.not_asked)
    assert len(screened.not_asked) == len(chosen.not_asked) + 1

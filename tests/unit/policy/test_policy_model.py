"""The decision types and the rule set: how item decisions add up, and what the rule-set hash covers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import NotConformant
from mais_node.policy import Decision, Item, ItemDecision, Outcome, PolicySource, Requester, RuleSet, load_rule_set


def _decision(*outcomes: Outcome) -> Decision:
    items = tuple(
        ItemDecision(item, outcome, (f"rule-{n}",))
        for n, (item, outcome) in enumerate(zip(Item, outcomes, strict=False))
    )
    return Decision(items, "sha256:x")


@pytest.mark.parametrize(
    ("outcomes", "overall"),
    [
        ((Outcome.PERMIT, Outcome.DENY), Outcome.PERMIT),
        ((Outcome.PERMIT, Outcome.REVIEW, Outcome.DENY), Outcome.REVIEW),
        ((Outcome.DENY, Outcome.DENY), Outcome.DENY),
    ],
)
def test_the_enquiry_outcome_waits_on_any_review_and_answers_any_permit(
    outcomes: tuple[Outcome, ...], overall: Outcome
) -> None:
    assert _decision(*outcomes).outcome is overall


def test_a_decision_is_read_per_item() -> None:
    decision = _decision(Outcome.PERMIT, Outcome.DENY)

    assert decision.of(Item.IS_OPEN).outcome is Outcome.DENY
    assert decision.rule_ids == ("rule-0", "rule-1")
    with pytest.raises(KeyError):
        decision.of(Item.CONTACT)


def test_register_status_codes_are_active_in_any_case() -> None:
    assert Requester("LA1", "x", "ACTIVE", "active", verified=True).active
    assert not Requester("LA1", "x", "active", "onboarding", verified=True).active


def test_the_rule_set_hash_covers_schema_names_and_texts() -> None:
    base = RuleSet("schema", (PolicySource("a", "text"),))

    variants = {
        base.content_hash,
        RuleSet("schema2", base.sources).content_hash,
        RuleSet("schema", (PolicySource("b", "text"),)).content_hash,
        RuleSet("schema", (PolicySource("a", "text2"),)).content_hash,
        RuleSet("schema", (PolicySource("at", "ext"),)).content_hash,
    }

    assert len(variants) == 5
    assert base.content_hash == RuleSet("schema", (PolicySource("a", "text"),)).content_hash


def test_a_rules_directory_loads_national_then_local_then_compiled(tmp_path: Path) -> None:
    (tmp_path / "schema.cedarschema").write_text("entity Organisation;", encoding="utf-8")
    (tmp_path / "national.cedar").write_text("// national", encoding="utf-8")
    (tmp_path / "local").mkdir()
    for name in ("20-b.cedar", "10-a.cedar", "notes.txt"):
        (tmp_path / "local" / name).write_text(f"// {name}", encoding="utf-8")

    rules = load_rule_set(tmp_path, [PolicySource("sharing-policy:x:v1", "// compiled")])

    assert [source.name for source in rules.sources] == [
        "national.cedar",
        "local/10-a.cedar",
        "local/20-b.cedar",
        "sharing-policy:x:v1",
    ]


def test_the_use_case_rules_under_national_load_after_national_cedar_and_before_local(tmp_path: Path) -> None:
    (tmp_path / "schema.cedarschema").write_text("entity Organisation;", encoding="utf-8")
    (tmp_path / "national.cedar").write_text("// national", encoding="utf-8")
    for folder, names in (("national", ("s42.cedar", "s17.cedar", "README.md")), ("local", ("10-a.cedar",))):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_text(f"// {name}", encoding="utf-8")

    rules = load_rule_set(tmp_path)

    assert [source.name for source in rules.sources] == [
        "national.cedar",
        "national/s17.cedar",
        "national/s42.cedar",
        "local/10-a.cedar",
    ]


def test_a_rules_directory_without_schema_or_national_rules_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotConformant) as refused:
        load_rule_set(tmp_path)

    assert len(refused.value.issues) == 2


def test_each_item_asks_about_the_data_category_its_vocabulary_concept_names() -> None:
    document = json.loads((DEFAULTS / "terminology" / "CodeSystem-request-type.json").read_text(encoding="utf-8"))
    named = {
        concept["code"]: next(p["valueCode"] for p in concept["property"] if p["code"] == "data-category")
        for concept in document["concept"]
    }

    assert named == {item.value: item.data_category for item in Item}

"""The vocabularies pages' edits and diff, on the CodeSystems the node ships: each edit makes the next version, never
touches the resource it was given, and names every field at fault; nested concepts are found and kept in place."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from mais_node.console import vocabularies_view as view
from mais_node.terminology.editing import check_edit

DEFAULTS = Path(__file__).resolve().parents[3] / "src" / "mais_node" / "defaults" / "terminology"
TODAY = date(2026, 12, 2)


def shipped(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEFAULTS / f"CodeSystem-{name}.json").read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize(("before", "after"), [("0.2.0", "0.2.1"), ("0.9", "0.10"), ("1", "2"), ("draft", "draft.1")])
def test_the_next_version_raises_the_last_number(before: str, after: str) -> None:
    assert view.next_version(before) == after


def test_a_nested_code_is_retired_in_place_and_the_rest_rules_accept_the_edit() -> None:
    before = shipped("organisation-type")
    untouched = copy.deepcopy(before)
    after = view.retire(before, {"retire-code": "camhs", "replaced-by": "community-mental-health"}, TODAY)
    assert before == untouched
    assert (after["version"], after["date"]) == (view.next_version(before["version"]), "2026-12-02")
    rows = {r.code: r for r in view.concept_rows(after)}
    assert (rows["camhs"].status, rows["camhs"].replaced_by, rows["camhs"].depth) == (
        "retired",
        "community-mental-health",
        1,
    )
    check_edit(before, after)
    (change,) = view.diff(before, after)
    assert (change.code, change.what) == ("camhs", "changed")
    assert change.before == "status: active"
    assert change.after == "status: retired; replaced by: community-mental-health"


def test_a_draft_without_a_legal_basis_property_needs_none_and_the_count_follows() -> None:
    before = shipped("request-type")
    after = view.add_concept(before, {"code": "has-plan", "display": "Has a plan"}, TODAY)
    assert after["concept"][-1] == {
        "code": "has-plan",
        "display": "Has a plan",
        "property": [{"code": "status", "valueCode": "draft"}],
    }
    assert after["count"] == before["count"] + 1
    assert view.activate(after, {"code": "has-plan"}, TODAY)["concept"][-1]["property"] == [
        {"code": "status", "valueCode": "active"}
    ]


def test_every_field_at_fault_is_named() -> None:
    purposes = shipped("request-asserted-purpose")
    with pytest.raises(view.FormErrors) as caught:
        view.add_concept(
            purposes, {"code": "two  spaces", "display": "", "legislation": "https://example.org/x"}, TODAY
        )
    assert set(caught.value.errors) == {"code", "display", "legislation", "gdpr"}
    with pytest.raises(view.FormErrors) as caught:
        view.retire(purposes, {"retire-code": "nope", "replaced-by": "nope"}, TODAY)
    assert set(caught.value.errors) == {"retire-code", "replaced-by"}
    with pytest.raises(view.FormErrors) as caught:
        view.retire(purposes, {"retire-code": "s47-enquiry", "replaced-by": "s47-enquiry"}, TODAY)
    assert caught.value.errors == {"replaced-by": "A code cannot be replaced by itself"}
    with pytest.raises(view.FormErrors):
        view.activate(purposes, {"code": "s47-enquiry"}, TODAY)


def test_the_diff_names_a_removed_code() -> None:
    before = shipped("decision")
    after = copy.deepcopy(before)
    gone = after["concept"].pop()
    (change,) = view.diff(before, after)
    assert (change.code, change.what, change.after) == (gone["code"], "removed", "")

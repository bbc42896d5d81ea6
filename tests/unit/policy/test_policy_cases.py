"""Policy-test cases for IG officers: reading case files, spotting mismatches, the result table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mais_node.errors import InvalidRequest
from mais_node.policy import Item, MatchGrade, Outcome, SharingPolicy
from mais_node.policy.cases import all_passed, load_cases, render_table, run_cases
from mais_node.policy.fake import FakePolicyEngine

GATEWAY = "national:s47:statutory-gateway"
REQUESTER = {
    "ods": "LA0001",
    "type": "la-childrens-social-care",
    "operationalStatus": "active",
    "technicalStatus": "active",
    "verified": True,
}


def _write(directory: Path, cases: list[dict[str, Any]], name: str = "cases.json") -> None:
    defaults = {"requester": REQUESTER, "purpose": "s47-enquiry", "time": "2026-06-01T10:00:00Z"}
    (directory / name).write_text(json.dumps({"defaults": defaults, "cases": cases}), encoding="utf-8")


def test_a_case_inherits_the_defaults_and_overrides_the_requester_field_by_field(tmp_path: Path) -> None:
    _write(tmp_path, [{"name": "c", "request": {"requester": {"verified": False}, "matchGrade": "probable"},
                       "expect": {"is-open": "deny"}}])  # fmt: skip

    (case,) = load_cases(tmp_path)

    assert case.name == "cases.json: c"
    assert case.request.requester.ods == "LA0001"
    assert case.request.requester.verified is False
    assert case.request.match_grade is MatchGrade.PROBABLE
    assert case.request.items == (Item.IS_OPEN,)
    assert case.expected[Item.IS_OPEN].outcome is Outcome.DENY


def test_a_wrong_outcome_or_wrong_rule_ids_fail_the_run(tmp_path: Path) -> None:
    _write(
        tmp_path,
        [
            {
                "name": "right",
                "expect": {"is-known": {"outcome": "PERMIT", "rules": ["national:s47:statutory-gateway"]}},
            },
            {"name": "wrong outcome", "expect": {"is-known": "DENY"}},
            {"name": "wrong rules", "expect": {"is-known": {"outcome": "PERMIT", "rules": ["local:other"]}}},
        ],
    )

    rows = run_cases(load_cases(tmp_path), FakePolicyEngine())
    table = render_table(rows)

    assert [row.ok for row in rows] == [True, False, False]
    assert not all_passed(rows)
    assert "FAIL (expected rules: local:other)" in table
    assert table.splitlines()[0].split() == ["case", "item", "expected", "actual", "rule", "ids", "ok"]
    assert table.splitlines()[-1] == "1 passed, 2 failed"


def test_a_claimed_agreement_is_resolved_to_its_current_version(tmp_path: Path, demo_agreement: SharingPolicy) -> None:
    _write(tmp_path, [{"name": "c", "request": {"sharingPolicies": ["LA0001-NODE01-2026"]},
                       "expect": {"is-known": "PERMIT"}}])  # fmt: skip

    (case,) = load_cases(tmp_path, [demo_agreement])

    assert case.request.sharing_policies == (demo_agreement.claim(),)


@pytest.mark.parametrize(
    "case",
    [
        {"name": "no expectation"},
        {"name": "unknown item", "expect": {"is-famous": "PERMIT"}},
        {"name": "unknown outcome", "expect": {"is-known": "MAYBE"}},
        {"name": "unknown agreement", "request": {"sharingPolicies": ["NOPE"]}, "expect": {"is-known": "PERMIT"}},
        {"name": "time without zone", "request": {"time": "2026-06-01T10:00:00"}, "expect": {"is-known": "DENY"}},
        {"name": "item not asked", "request": {"items": ["is-open"]}, "expect": {"is-known": "DENY"}},
        {"no": "name"},
    ],
    ids=lambda case: case.get("name", "nameless"),
)
def test_a_malformed_case_is_refused_naming_the_file_and_case(tmp_path: Path, case: dict[str, Any]) -> None:
    _write(tmp_path, [case], name="broken.json")

    with pytest.raises(InvalidRequest) as refused:
        load_cases(tmp_path)

    assert refused.value.diagnostics.startswith("broken.json case")


@pytest.mark.parametrize("content", ["{", "[]", '{"cases": [], "defaults": []}'])
def test_a_malformed_file_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "bad.json").write_text(content, encoding="utf-8")

    with pytest.raises(InvalidRequest):
        load_cases(tmp_path)


def test_an_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        load_cases(tmp_path)

"""``mais policy test`` runs the cases of this node's rules on asking (``"action": "ask"`` files) beside the decision
cases: the shipped cases pass on the shipped rules, a wrong expectation fails the run, a malformed case is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mais_node.adapters.cedar_asking import CedarAskRules
from mais_node.cli import app
from mais_node.config import DEFAULTS, Settings
from mais_node.errors import InvalidRequest
from mais_node.policy.ask_cases import load_ask_cases, render_ask_table, run_ask_cases
from mais_node.policy.cases import load_cases
from mais_node.wiring import build_services

SHIPPED = DEFAULTS / "rules" / "tests"


def test_the_shipped_cases_pass_on_the_shipped_rules() -> None:
    rules = CedarAskRules(DEFAULTS / "rules")
    rules.load()
    results = run_ask_cases(load_ask_cases(SHIPPED), rules)
    assert len(results) >= 4
    assert all(r.ok for r in results), render_ask_table(results)


def test_the_decision_cases_skip_the_ask_files(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "asking" / "defaults.json", tmp_path / "asking.json")
    assert load_cases(tmp_path) == []


def test_a_wrong_expectation_fails_the_command_naming_the_case(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    document = json.loads((SHIPPED / "asking" / "defaults.json").read_text())
    document["cases"][0]["expect"] = {"outcome": "NOT_ASKED"}
    (cases / "asking.json").write_text(json.dumps(document))
    store = f"sqlite:///{tmp_path / 'node.db'}"
    build_services(Settings(store=store)).close()
    result = CliRunner().invoke(app, ["policy", "test", str(cases), "--store", store])
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.endswith("FAIL")]
    assert len(failed) == 1
    assert "a relevant partner is asked" in failed[0]
    assert "asking: 3 passed, 1 failed" in result.output


def test_a_local_forbid_is_tested_like_code(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    shutil.copytree(DEFAULTS / "rules", rules_dir)
    (rules_dir / "asking" / "local" / "20-schools.cedar").write_text(
        '@id("local:ask:forbid:schools-for-open-alone")\n'
        'forbid (principal, action == Action::"ask", resource)\n'
        'when { resource.type == "school" && context.items == ["is-open"] };\n'
    )
    document = json.loads((SHIPPED / "asking" / "defaults.json").read_text())
    document["cases"] = [
        {
            "name": "a school asked only whether the child is open",
            "request": {"items": ["is-open"], "partner": {"ods": "SCH001", "type": "school"}},
            "expect": {"outcome": "NOT_ASKED", "rules": ["local:ask:forbid:schools-for-open-alone"]},
        }
    ]
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "case.json").write_text(json.dumps(document))
    rules = CedarAskRules(rules_dir)
    rules.load()
    assert [r.ok for r in run_ask_cases(load_ask_cases(tmp_path / "cases"), rules)] == [True]


def test_a_malformed_case_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(
        json.dumps({"action": "ask", "cases": [{"name": "x", "expect": {"outcome": "MAYBE"}}]})
    )
    with pytest.raises(InvalidRequest, match=r"bad\.json case x is malformed"):
        load_ask_cases(tmp_path)


def test_policy_check_refuses_a_broken_rule_on_asking_naming_its_file(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    shutil.copytree(DEFAULTS / "rules", rules_dir)
    store = f"sqlite:///{tmp_path / 'node.db'}"
    build_services(Settings(store=store)).close()
    check = ["policy", "check", "--store", store, "--rules", str(rules_dir)]
    assert CliRunner().invoke(app, check).exit_code == 0
    (rules_dir / "asking" / "local" / "99-typo.cedar").write_text(
        '@id("local:ask:typo")\nforbid (principal, action, resource) when { resource.kind == "school" };\n'
    )
    result = CliRunner().invoke(app, check)
    assert result.exit_code == 1
    assert "asking/local/99-typo.cedar" in result.output
    assert "attribute `kind` on entity type `Partner` not found" in result.output

"""The `mais` command line in process (typer's runner): person import, policy check/test, sharing policies,
terminology load. Each command works on a real SQLite store."""

from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from mais_node.cli import app
from mais_node.config import DEFAULTS, Settings
from mais_node.wiring import build_services
from tests.builders import episode, patient

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A node's store as ``mais serve`` leaves it: the commands refuse one that does not exist."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    build_services(Settings(store=url)).close()
    return url


def mais(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_person_import_reports_counts_and_refuses_a_file_with_a_bad_row(tmp_path: Path, store: str) -> None:
    good = [patient(id="p1"), patient(id="p2", gender="female"), episode("p1")]
    bad = {**patient(id="p3"), "birthDate": "1990-02-31x"}
    ndjson = tmp_path / "people.ndjson"
    ndjson.write_text("\n".join(json.dumps(r) for r in [*good[:2], bad, good[2]]))
    code, output = mais("person", "import", str(ndjson), "--store", store)
    assert code == 1
    assert "line 3" in output
    assert "nothing imported" in output
    code, output = mais("person", "import", str(ndjson), "--store", store, "--skip-invalid")
    assert code == 0, output
    assert "imported 1 EpisodeOfCare, 2 Patient; rejected 1" in output
    bundle = tmp_path / "people.json"
    bundle.write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in good]})
    )
    code, output = mais("person", "import", str(bundle), "--store", store)
    assert code == 0, output


def test_policy_check_and_test_pass_on_the_shipped_rules(store: str) -> None:
    code, output = mais("policy", "check", "--store", store)
    assert code == 0, output
    assert "rules valid" in output
    code, output = mais("policy", "test", str(DEFAULTS / "rules" / "tests"), "--store", store)
    assert code == 0, output
    assert " 0 failed" in output


def test_policy_test_exits_non_zero_on_a_mismatch(tmp_path: Path, store: str) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(DEFAULTS / "rules" / "tests" / "national", cases)
    first = sorted(cases.glob("*.json"))[0]
    document = json.loads(first.read_text())
    text = json.dumps(document)
    first.write_text(
        text.replace('"PERMIT"', '"DENY"', 1) if '"PERMIT"' in text else text.replace('"DENY"', '"PERMIT"', 1)
    )
    code, output = mais("policy", "test", str(cases), "--store", store)
    assert code == 1
    assert "1 failed" in output


def test_policy_check_refuses_an_invalid_rule_set(tmp_path: Path, store: str) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULTS / "rules", rules)
    (rules / "local" / "99-broken.cedar").write_text(
        'permit (principal, action == Action::"no-such-action", resource);'
    )
    code, output = mais("policy", "check", "--store", store, "--rules", str(rules))
    assert code == 1
    assert "no-such-action" in output or "error" in output


def test_sharing_policies_are_added_listed_and_retired(store: str) -> None:
    path = DEFAULTS / "sharing-policies" / "LA0001-NODE01-2026.json"
    code, output = mais("sharing-policy", "add", str(path), "--store", store)
    assert code == 0, output
    identifier = orjson.loads(path.read_bytes())["Identifier"]["value"]
    code, output = mais("sharing-policy", "list", "--store", store)
    assert f"{identifier}\tv1\tin force" in output
    code, output = mais("sharing-policy", "retire", identifier, "--store", store)
    assert code == 0, output
    code, output = mais("sharing-policy", "list", "--store", store)
    assert "in force" not in output
    assert "retired" in output
    # Both changes are in the trail with both versions and the operator as the agent, as a REST write of a Contract.
    services = build_services(Settings(store=store), read_only=True)
    try:
        changes = [
            (
                r.event["entity"][0]["what"]["reference"],
                {d["type"]: d["valueString"] for d in r.event["entity"][0]["detail"]},
                r.event["agent"][0]["who"]["identifier"]["value"],
            )
            for r in services.audit.scan()
            if "sharing-policy-change" in [c["code"] for c in r.event.get("subtype", [])]
        ]
    finally:
        services.close()
    contract = f"Contract/{identifier}"
    assert [(target, detail) for target, detail, _ in changes] == [
        (f"{contract}/_history/1", {"after-version": "1"}),
        (f"{contract}/_history/2", {"before-version": "1", "after-version": "2"}),
    ]
    assert {who for *_, who in changes} == {f"cli:{getpass.getuser()}"}


def test_terminology_load_is_idempotent(store: str) -> None:
    code, first = mais("terminology", "load", "--store", store)
    assert code == 0, first
    code, second = mais("terminology", "load", "--store", store)
    assert "loaded 0 vocabulary resource(s)" in second
    loaded = int(first.split()[1])
    assert loaded > 0
    assert f"{loaded} already held" in second

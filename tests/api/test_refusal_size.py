"""Issue 13 §6: no refusal is larger than the threat model allows (at most 100 issues, under 64 KiB), whatever the
request, and the last issue says how many were left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from mais_node.errors import Issue
from mais_node.fhir.outcome import MAX_ISSUES, operation_outcome
from tests.api.conftest import Node, make_node
from tests.api.test_enquiry import FHIR, S47, subject

MAX_REFUSAL_BYTES = 64 * 1024


@pytest.fixture
def roomy(tmp_path: Path) -> Iterator[Node]:
    """A node taking bodies up to the default 1 MiB, so that a body can hold 40,000 parameters."""
    yield from make_node(tmp_path)


def _capped(document: dict[str, object], size: int, total: int) -> list[dict[str, object]]:
    assert document["resourceType"] == "OperationOutcome"
    issues = document["issue"]
    assert isinstance(issues, list)
    assert size < MAX_REFUSAL_BYTES
    assert len(issues) <= MAX_ISSUES + 1
    last = issues[-1]
    assert last["code"] == "too-costly"
    assert f"{total - (len(issues) - 1):,} more issues were left out" in str(last["diagnostics"])
    return issues


def test_forty_thousand_bad_parameters_earn_a_capped_refusal_that_counts_what_it_left_out(roomy: Node) -> None:
    roomy.organisation("LA0001")
    bad = [{"name": f"bogus{i}"} for i in range(40_000)]
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": subject()}, *bad]}
    body["parameter"].append({"name": "reason", "valueUri": S47})
    answer = roomy.http.post(
        "/fhir/Patient/$person-info-query",
        content=orjson.dumps(body),
        headers={**FHIR, **roomy.as_("mais/enquiry", "LA0001")},
    )
    assert answer.status_code == 422, answer.text[:300]
    issues = _capped(answer.json(), len(answer.content), 40_000)
    assert len(issues) == MAX_ISSUES + 1
    assert issues[0]["diagnostics"] == "Unknown parameter 'bogus0'"


def test_eighty_thousand_unknown_elements_are_capped_in_the_one_place_outcomes_are_built(roomy: Node) -> None:
    patient: dict[str, object] = {"resourceType": "Patient", **{f"x{i}": 1 for i in range(80_000)}}
    answer = roomy.http.post("/fhir/Patient", content=orjson.dumps(patient), headers={**FHIR, **roomy.as_()})
    assert answer.status_code == 400
    _capped(answer.json(), len(answer.content), 80_000)


def test_an_outcome_of_long_issues_stays_under_its_size_and_says_how_many_it_left_out() -> None:
    issues = [Issue("d" * 5_000, "invalid", expression=("e" * 5_000,) * 20) for _ in range(1_000)]
    document = operation_outcome(issues)
    listed = _capped(document, len(orjson.dumps(document)), 1_000)
    assert len(listed) > 1
    first = listed[0]
    assert isinstance(first["diagnostics"], str)
    assert first["diagnostics"].endswith("…")


def test_the_left_out_issues_keep_their_severity_and_a_short_outcome_is_untouched() -> None:
    issues = [Issue(f"problem {i}", "invalid") for i in range(MAX_ISSUES)]
    document = operation_outcome([*issues, Issue("the last straw", "exception", "fatal")])
    assert document["issue"][-1]["severity"] == "fatal"
    assert "1 more issue was left out" in document["issue"][-1]["diagnostics"]
    short = operation_outcome(issues[:3])
    assert [i["diagnostics"] for i in short["issue"]] == ["problem 0", "problem 1", "problem 2"]

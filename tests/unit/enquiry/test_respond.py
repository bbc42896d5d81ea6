"""The REVIEW Task the node builds from an enquiry that passed the gates always passes the R4 structure check,
which is why the route stores it without running that check again (``structure_checked``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mais_node.enquiry.parse import from_parameters
from mais_node.enquiry.respond import answer_task, task_for
from mais_node.fhir.models import structure_issues
from mais_node.matching.synthetic import generate_population, to_fhir_patient
from mais_node.policy import Decision, Item, Outcome, sharing_policy
from mais_node.policy.model import ItemDecision
from mais_node.terminology import PURPOSE_SYSTEM

SUBJECTS = [to_fhir_patient(p) for p in generate_population(200, seed=9)]
# Strings the gates do not look at (the user, the request id) can be anything a client sends, blank included:
# whitespace that FHIR's string rule does not accept on its own ("\x85", "\x0c", "\u2028") is drawn on purpose.
BLANK = st.text(alphabet=st.characters(categories=["Zs", "Zl", "Zp", "Cc"]), max_size=4)
ANY_TEXT = st.one_of(st.just(""), st.just(" "), st.just("\x00"), st.just("\x85"), BLANK, st.text(max_size=40))
OUTCOMES = st.sampled_from([Outcome.PERMIT, Outcome.DENY, Outcome.REVIEW])
# A claimed sharing policy passes the gates only when the node holds it, and the node holds only policies whose
# identifier `parse_sharing_policy` accepted (its safe-id pattern). Any other text is refused as "not known to this
# node" before a Task is built (a `make test` run once drew "\x0c" here, which no Task may hold).
HELD_POLICY = st.from_regex(sharing_policy._SAFE_ID, fullmatch=True)


def _parameters(draw: Any) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": "resource", "resource": draw(st.sampled_from(SUBJECTS))}]
    if draw(st.booleans()):
        code = draw(st.sampled_from(["child-protection", "adult-safeguarding", "prevent-harm"]))
        parameters.append({"name": "reason", "valueCoding": {"system": PURPOSE_SYSTEM, "code": code}})
    else:
        parameters.append({"name": "reason", "valueUri": "https://www.legislation.gov.uk/ukpga/1989/41/section/47"})
    if draw(st.booleans()):
        parameters.append({"name": "requestId", "valueString": draw(ANY_TEXT)})
    for item in draw(st.lists(st.sampled_from([i.value for i in Item]), max_size=3, unique=True)):
        parameters.append({"name": "requestedItem", "valueCode": item})
    for policy in draw(st.lists(HELD_POLICY, max_size=2)):
        parameters.append({"name": "sharingPolicy", "valueIdentifier": {"value": policy}})
    parts = [
        {"name": name, "valueString": draw(ANY_TEXT)} for name in ("identifier", "name", "role") if draw(st.booleans())
    ]
    if parts:
        parameters.append({"name": "authorisedUser", "part": parts})
    return {"resourceType": "Parameters", "parameter": parameters}


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_every_referred_task_passes_the_structure_check(data: st.DataObject) -> None:
    body = _parameters(data.draw)
    enquiry = from_parameters(body, orjson.dumps(body))
    decision = Decision(tuple(ItemDecision(Item(item), data.draw(OUTCOMES), ("r1",)) for item in enquiry.items), "hash")
    task = answer_task(task_for(enquiry), decision, None, "X26", "LA1")
    assert structure_issues(task) == []


@pytest.mark.parametrize("blank", ["", " ", "\x85", "\x0c\u2028", "\xa0\t"])
def test_a_blank_request_id_or_user_is_taken_as_absent_not_copied_into_the_task(blank: str) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": SUBJECTS[0]},
            {"name": "reason", "valueUri": "https://www.legislation.gov.uk/ukpga/1989/41/section/47"},
            {"name": "requestId", "valueString": blank},
            {
                "name": "authorisedUser",
                "part": [{"name": n, "valueString": blank} for n in ("identifier", "name", "role")],
            },
        ],
    }
    enquiry = from_parameters(body, orjson.dumps(body))
    assert (enquiry.user.identifier, enquiry.user.name, enquiry.user.role) == (None, None, None)
    assert len(enquiry.request_id) == 32  # one the node made
    task = task_for(enquiry)
    assert structure_issues(task) == []
    assert task["contained"][1] == {"resourceType": "PractitionerRole", "id": "user"}

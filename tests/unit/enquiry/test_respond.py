"""The REVIEW Task the node builds from an enquiry that passed the gates always passes the R4 structure check,
which is why the route stores it without running that check again (``structure_checked``)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mais_node.enquiry.parse import from_parameters
from mais_node.enquiry.respond import answer_task, task_for
from mais_node.fhir.models import structure_issues
from mais_node.matching.synthetic import generate_population, to_fhir_patient
from mais_node.policy import Decision, Item, Outcome
from mais_node.policy.model import ItemDecision
from mais_node.terminology import PURPOSE_SYSTEM

SUBJECTS = [to_fhir_patient(p) for p in generate_population(200, seed=9)]
# Strings the gates do not look at (the user, the request id) can be anything a client sends, blank included.
ANY_TEXT = st.one_of(st.just(""), st.just(" "), st.just("\x00"), st.text(max_size=40))
OUTCOMES = st.sampled_from([Outcome.PERMIT, Outcome.DENY, Outcome.REVIEW])


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
    for policy in draw(st.lists(st.text(min_size=1, max_size=30), max_size=2)):
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

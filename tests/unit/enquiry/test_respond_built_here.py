"""A Task the node has just built is answered without a copy (``answer_task(..., built_here=True)``, the referral of
``$person-info-query``): the same Task as the copying form, and nothing it shares with the enquiry is changed."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mais_node.enquiry.model import Answer, Contact
from mais_node.enquiry.parse import from_parameters
from mais_node.enquiry.respond import answer_task, task_for
from mais_node.policy import Decision, Item, MatchGrade, Outcome
from mais_node.policy.model import ItemDecision
from tests.unit.enquiry.test_respond import OUTCOMES, SUBJECTS

CONTACT = Contact({"resourceType": "Organization", "id": "o1", "name": "Council", "telecom": [{"value": "0113"}]})


def _enquiry(draw: Any) -> Any:
    items = draw(st.lists(st.sampled_from([i.value for i in Item]), min_size=1, max_size=4, unique=True))
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": draw(st.sampled_from(SUBJECTS))},
            {"name": "reason", "valueUri": "https://www.legislation.gov.uk/ukpga/1989/41/section/47"},
            *({"name": "requestedItem", "valueCode": item} for item in items),
            {"name": "authorisedUser", "part": [{"name": "name", "valueString": "A. Worker"}]},
        ],
    }
    return from_parameters(body, orjson.dumps(body))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_answered_in_place_is_the_same_task_as_answered_on_a_copy(data: st.DataObject) -> None:
    enquiry = _enquiry(data.draw)
    decision = Decision(tuple(ItemDecision(Item(i), data.draw(OUTCOMES), ("r1",)) for i in enquiry.items), "hash")
    answer = data.draw(
        st.sampled_from([None, Answer(enquiry.request_id, decision, MatchGrade.CERTAIN, True, True, CONTACT, False)])
    )
    subject_before = orjson.dumps(enquiry.subject)
    built = task_for(enquiry, "2026-12-03T14:00:00.000Z")
    copied = answer_task(task_for(enquiry, "2026-12-03T14:00:00.000Z"), decision, answer, "X26", "LA1")
    in_place = answer_task(built, decision, answer, "X26", "LA1", built_here=True)
    assert in_place is built
    assert orjson.dumps(in_place) == orjson.dumps(copied)
    assert orjson.dumps(enquiry.subject) == subject_before  # what the Task shares with the enquiry is untouched


def test_without_built_here_the_callers_task_is_left_as_it_was() -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": SUBJECTS[0]},
            {"name": "reason", "valueUri": "https://www.legislation.gov.uk/ukpga/1989/41/section/47"},
            {"name": "requestedItem", "valueCode": "contact"},
        ],
    }
    enquiry = from_parameters(body, orjson.dumps(body))
    task = task_for(enquiry)
    task["id"] = "t1"
    before = orjson.dumps(task)
    decision = Decision((ItemDecision(Item.CONTACT, Outcome.PERMIT, ("r1",)),), "hash")
    answered = answer_task(
        task, decision, Answer(enquiry.request_id, decision, MatchGrade.CERTAIN, contact=CONTACT), "X26", "LA1"
    )
    assert orjson.dumps(task) == before
    assert answered is not task
    assert "id" not in answered
    assert answered["status"] == "completed"

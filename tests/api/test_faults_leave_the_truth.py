"""Issue 13 item 9: when the store cannot keep the Task that carries an enquiry's answer (a full disk), the requester
gets 503 and the audit trail says so: it never says "referred" (or "disclosed") about a Task that was not written.
The store fails as a full disk makes it fail: its ``write`` raises the storage's Unavailable for that Task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.audit.verify import verify
from mais_node.config import DEFAULTS
from mais_node.errors import AuditUnavailable, Unavailable
from mais_node.storage.port import Change
from tests.api.conftest import Node
from tests.api.test_enquiry import FHIR, KNOWN, PURPOSE, ask, parameters

GENERAL = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}


def fail_task_writes(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    store = node.services.resources.store
    real = store.write

    def write(change: Change) -> Any:
        if change.resource_type == "Task":
            raise Unavailable("The resource store is not writable")
        return real(change)

    monkeypatch.setattr(store, "write", write)


def records_of(node: Node, enquiry_id: str) -> list[dict[str, Any]]:
    def ids(event: dict[str, Any]) -> set[str]:
        return {str((e.get("what") or {}).get("identifier", {}).get("value")) for e in event.get("entity", [])}

    return [r.event for r in node.services.audit.scan() if enquiry_id in ids(r.event)]


def subtypes(events: list[dict[str, Any]]) -> list[str]:
    return [c["code"] for e in events for c in e.get("subtype", [])]


def tasks(node: Node) -> int:
    return len(node.services.resources.search("Task", [("_count", "200")]).page.items)


def failed_as_recorded(events: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [e for e in events if "enquiry-failed" in subtypes([e])]
    assert len(failed) == 1, subtypes(events)
    assert failed[0]["outcome"] == "8"
    assert "could not be stored" in failed[0]["outcomeDesc"]
    return failed[0]


@pytest.fixture
def la1(node: Node) -> dict[str, str]:
    node.organisation("LA0001")
    return {**FHIR, **node.as_("mais/enquiry system/Task.crs", "LA0001")}


def test_a_referral_whose_task_cannot_be_written_is_recorded_as_failed(
    node: Node, la1: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_task_writes(node, monkeypatch)
    body = parameters({"name": "requestId", "valueString": "full-disk"}, *ask("is-known"), reason=GENERAL)
    answer = node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers=la1)
    assert answer.status_code == 503, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    events = records_of(node, "full-disk")
    assert {"enquiry-received", "decision", "review"} <= set(subtypes(events))
    failed_as_recorded(events)
    assert "enquiry-failed" in subtypes([events[-1]])  # the last word is the failure
    assert tasks(node) == 0
    assert verify(node.services.audit.scan()).ok
    monkeypatch.undo()
    again = parameters({"name": "requestId", "valueString": "room-again"}, *ask("is-known"), reason=GENERAL)
    referred = node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(again), headers=la1)
    assert referred.status_code == 202, referred.text
    assert "enquiry-failed" not in subtypes(records_of(node, "room-again"))


def test_a_task_enquiry_whose_answer_cannot_be_written_records_no_disclosure(
    node: Node, la1: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = {**FHIR, **node.as_("system/*.cruds mais/admin")}
    from tests.api.test_enquiry import person

    node.http.post("/fhir/Patient", content=orjson.dumps(person(*KNOWN.values())), headers=admin)
    node.services.persons.refresh()
    task = orjson.loads(Path(DEFAULTS / "profiles/examples/mais-enquiry-valid-nhs-number.json").read_bytes())
    task["contained"][0]["identifier"][0]["value"] = KNOWN["nhs"]
    task["contained"][0]["name"] = [{"use": "official", "family": KNOWN["family"], "given": [KNOWN["given"]]}]
    task["contained"][0]["birthDate"] = KNOWN["birthDate"]
    role = next(r for r in task["contained"] if r["resourceType"] == "PractitionerRole")
    role["organization"]["identifier"]["value"] = "LA0001"
    task["identifier"] = [{"system": "https://mais.example.org/fhir/Id/request-id", "value": "task-full-disk"}]
    fail_task_writes(node, monkeypatch)
    answer = node.http.post("/fhir/Task", content=orjson.dumps(task), headers=la1)
    assert answer.status_code == 503, answer.text
    assert KNOWN["family"] not in answer.text
    events = records_of(node, "task-full-disk")
    assert "permit" in subtypes(events)  # the rules did permit
    assert "disclose" not in subtypes(events)  # but nothing was disclosed, and the trail does not say it was
    failed_as_recorded(events)
    assert tasks(node) == 0


def test_a_review_whose_answered_task_cannot_be_written_records_the_failure(
    node: Node, la1: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = parameters({"name": "requestId", "valueString": "to-review"}, *ask("is-known"), reason=GENERAL)
    referred = node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers=la1)
    assert referred.status_code == 202, referred.text
    task_id = referred.json()["id"]
    reviewer = {**FHIR, **node.as_("mais/reviewer")}
    fail_task_writes(node, monkeypatch)
    review = {
        "resourceType": "Parameters",
        "parameter": [{"name": "decision", "valueCode": "permit"}, {"name": "reason", "valueString": "checked"}],
    }
    decided = node.http.post(f"/fhir/Task/{task_id}/$review", content=orjson.dumps(review), headers=reviewer)
    assert decided.status_code == 503, decided.text
    events = records_of(node, "to-review")
    failed = failed_as_recorded(events)
    assert subtypes(events).index("review-decision") < subtypes(events).index("enquiry-failed")
    assert "review" in failed["outcomeDesc"]
    monkeypatch.undo()
    assert node.services.resources.read("Task", task_id).body["status"] == "on-hold"  # still waiting: decide again
    again = node.http.post(f"/fhir/Task/{task_id}/$review", content=orjson.dumps(review), headers=reviewer)
    assert again.status_code == 200, again.text


def test_a_referral_whose_records_cannot_be_written_leaves_no_task_behind(
    node: Node, la1: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order of the same fault: the Task was written, then the trail refused the enquiry's records."""

    def broken(events: Any) -> Any:
        raise AuditUnavailable("disk full")

    monkeypatch.setattr(node.services.audit, "append_many", broken)
    body = parameters({"name": "requestId", "valueString": "no-trail"}, *ask("is-known"), reason=GENERAL)
    answer = node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers=la1)
    assert answer.status_code == 503, answer.text
    monkeypatch.undo()
    assert tasks(node) == 0
    assert records_of(node, "no-trail") == []

"""A referred enquiry from the requester's, the IG officer's and the auditor's side (issue 12 items 13 and 18): the
202 hands out the Task's own URL, which shows the decision once it is taken; every record about the person, the
disclosure after the review included, is found by the person's NHS number even when the enquiry named them only by
name and date of birth; and each record says who the subject was as asked."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from mais_node.audit.export import export
from tests.api.conftest import Node
from tests.api.test_enquiry import FHIR, KNOWN, PURPOSE, ask, enquire, parameters, seed_world, subject

GENERAL = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
DECIDE = {
    "resourceType": "Parameters",
    "parameter": [{"name": "decision", "valueCode": "permit"}, {"name": "reason", "valueString": "s11 duty; checked"}],
}


@pytest.fixture
def world(node: Node) -> Node:
    return seed_world(node)


def by_name_only() -> dict[str, Any]:
    """The known person as an enquiry names them without an NHS number (as the demo's REVIEW example does)."""
    return subject(None, birthDate=KNOWN["birthDate"])


def test_the_202_hands_out_the_tasks_own_url_and_it_shows_the_decision(world: Node) -> None:
    referred = enquire(world, parameters(*ask("is-known"), reason=GENERAL, who=by_name_only()))
    assert referred.status_code == 202, referred.text
    task_id = referred.json()["id"]
    poll = referred.headers["Content-Location"]
    assert poll == f"{world.services.settings.fhir_base}/Task/{task_id}"
    requester = world.as_("mais/enquiry system/Task.r", "LA0001")
    assert world.http.get(urlsplit(poll).path, headers=requester).json()["status"] == "on-hold"

    reviewer = {**FHIR, **world.as_("mais/reviewer")}
    decided = world.http.post(f"/fhir/Task/{task_id}/$review", content=orjson.dumps(DECIDE), headers=reviewer)
    assert decided.status_code == 200, decided.text
    polled = world.http.get(urlsplit(poll).path, headers=requester).json()
    assert polled["status"] == "completed"
    assert polled["businessStatus"]["coding"][0]["code"] == "permit"


def test_the_auditor_finds_every_record_of_a_referred_enquiry_by_the_persons_nhs_number(world: Node) -> None:
    request = {"name": "requestId", "valueString": "by-name"}
    referred = enquire(world, parameters(request, *ask("is-known"), reason=GENERAL, who=by_name_only()))
    assert referred.status_code == 202, referred.text
    reviewer = {**FHIR, **world.as_("mais/reviewer")}
    task_id = referred.json()["id"]
    assert world.http.post(f"/fhir/Task/{task_id}/$review", content=orjson.dumps(DECIDE), headers=reviewer).is_success

    auditor = world.as_("system/AuditEvent.rs")
    found = world.http.get(f"/fhir/AuditEvent?patient={KNOWN['nhs']}&_count=1000", headers=auditor).json()
    kinds = [
        {c["code"] for c in e["resource"]["subtype"]} for e in found.get("entry", []) if e["search"]["mode"] == "match"
    ]
    assert any({"decision", "review"} <= k for k in kinds), kinds
    assert any({"review-decision", "permit"} <= k for k in kinds), kinds
    assert any("disclose" in k for k in kinds), kinds

    trail = [r.event for r in world.services.audit.scan()]
    received = next(e for e in trail if any(c["code"] == "enquiry-received" for c in e["subtype"]))
    patient = next(x["what"] for x in received["entity"] if x.get("role", {}).get("code") == "1")
    assert patient["display"] == f"{KNOWN['given']} {KNOWN['family']}, born {KNOWN['birthDate']} (no NHS number given)"
    assert "subject without NHS number" not in orjson.dumps(trail).decode()

    out = io.StringIO()
    export(world.services.audit.scan(), None, None, "csv", out)
    rows = [row for row in csv.DictReader(io.StringIO(out.getvalue())) if row["request_id"] == "by-name"]
    disclosed = next(row for row in rows if row["subtype"].startswith("disclose"))
    assert disclosed["patient"].endswith(f" {KNOWN['nhs']}")
    assert disclosed["patient"].startswith("Patient/")
    referred_rows = [row for row in rows if row["subtype"].startswith("decision review")]
    assert referred_rows
    assert all(row["rules"] and row["reason"].startswith("REVIEW is-known: ") for row in referred_rows)


def test_an_ig_officers_what_if_about_a_person_is_found_by_their_nhs_number(world: Node) -> None:
    """The same gap as the review's records: the what-if is a record about the person the request names."""
    reviewer = {**FHIR, **world.as_("mais/reviewer")}
    body = parameters(*ask("is-known"))
    assert world.http.post("/fhir/Patient/$what-if", content=orjson.dumps(body), headers=reviewer).is_success
    auditor = world.as_("system/AuditEvent.rs")
    found = world.http.get(f"/fhir/AuditEvent?patient={KNOWN['nhs']}", headers=auditor).json()
    kinds = [{c["code"] for c in e["resource"]["subtype"]} for e in found.get("entry", [])]
    assert any("what-if" in k for k in kinds), kinds

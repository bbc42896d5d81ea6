"""The BALP builders (IHE BALP 1.1, issue 6 §1): every event is a valid FHIR R4 AuditEvent with the pattern's codes."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from mais_node.audit import balp
from mais_node.audit.actors import Actor, Decision, Subject
from mais_node.audit.port import Event
from tests.unit.audit.audit_builders import NODE, T0, actor

PERSON = Subject(nhs_number="9434765919", reference="Patient/p1")
BUILDERS: dict[str, Callable[[], Event]] = {
    "token_issued": lambda: balp.token_issued(NODE, T0, actor(), scopes=["system/Task.c", "system/Patient.r"]),
    "token_refused": lambda: balp.token_refused(NODE, T0, Actor(client_id="unknown"), reason="jti replayed"),
    "enquiry_received": lambda: balp.enquiry_received(
        NODE, T0, actor(), enquiry_id="e1", raw_request=b'{"resourceType":"Parameters"}', subject=PERSON
    ),
    "enquiry_without_subject": lambda: balp.enquiry_received(
        NODE, T0, actor(), enquiry_id="e1", raw_request=b"{}", subject=None
    ),
    "enquiry_refused": lambda: balp.enquiry_refused(
        NODE, T0, actor(), enquiry_id="e1", reason="the organisation is suspended in the register"
    ),
    "decision": lambda: balp.decision(
        NODE, T0, actor(), enquiry_id="e1", item="is-open", outcome="deny", rule_ids=["r1", "r2"], subject=PERSON
    ),
    "disclosure": lambda: balp.disclosure(
        NODE, T0, actor(), enquiry_id="e1", subject=PERSON, items=["is-known", "contact"], policies=["https://p/1"]
    ),
    "review_decision": lambda: balp.review_decision(
        NODE, T0, actor("X26", "ig-1"), enquiry_id="e1", item="contact", outcome="permit", reason="s47 confirmed"
    ),
    "changed": lambda: balp.changed(
        NODE, T0, actor(), kind="sharing-policy", interaction="update", target="Contract/dsa-7", before="1", after="2"
    ),
    "what_if": lambda: balp.what_if(NODE, T0, actor(), raw_request=b"{}", decisions={"is-known": "permit"}),
    "audit_searched": lambda: balp.audit_searched(NODE, T0, actor(), query="patient=9434765919", returned=4),
    "rules_loaded": lambda: balp.rules_loaded(
        NODE, T0, Actor(), ruleset="national", version="3", accepted=False, reason="policy p9 does not validate"
    ),
    "person_import": lambda: balp.person_import(
        NODE,
        T0,
        Actor(client_id="cli:operator"),
        source="export.json",
        imported={"Patient": 2, "Organization": 1},
        rejected=0,
        nhs_verified=True,
        marked=2,
    ),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_every_builder_makes_a_valid_r4_audit_event(name: str) -> None:
    event = BUILDERS[name]()
    parsed = AuditEvent.model_validate(event)
    assert parsed.recorded is not None
    assert parsed.source.observer is not None
    assert sum(1 for agent in event["agent"] if agent["requestor"]) == 1


def test_enquiry_keeps_the_raw_request_base64_and_names_the_patient() -> None:
    event = BUILDERS["enquiry_received"]()
    query = next(e for e in event["entity"] if "query" in e)
    assert base64.b64decode(query["query"]) == b'{"resourceType":"Parameters"}'
    assert event["meta"]["profile"] == [
        "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery"
    ]
    patient = next(e for e in event["entity"] if e.get("role", {}).get("code") == "1")
    assert patient["what"]["identifier"]["value"] == "9434765919"


@pytest.mark.parametrize(("outcome", "code"), [("permit", "0"), ("deny", "8"), ("review", "0")])
def test_decision_follows_balp_authz(outcome: Decision, code: str) -> None:
    event = balp.decision(
        NODE, T0, actor(), enquiry_id="e1", item="is-known", outcome=outcome, rule_ids=["r1"], policies=["https://p/1"]
    )
    assert (event["type"]["code"], event["outcome"]) == ("110113", code)
    assert outcome in [c["code"] for c in event["subtype"]]
    requestor = event["agent"][0]
    assert requestor["policy"] == ["https://p/1"]
    assert [c["code"] for c in requestor["purposeOfUse"][0]["coding"]] == ["THREAT", "s47-enquiry"]
    rules = [e["what"]["identifier"]["value"] for e in event["entity"] if e.get("role", {}).get("code") == "13"]
    assert rules == ["r1"]


def test_change_records_both_versions() -> None:
    event = BUILDERS["changed"]()
    entity = event["entity"][0]
    assert event["action"] == "U"
    assert entity["what"]["reference"] == "Contract/dsa-7/_history/2"
    assert {d["type"]: d["valueString"] for d in entity["detail"]} == {"before-version": "1", "after-version": "2"}


def test_a_system_without_a_user_is_the_requestor() -> None:
    event = balp.token_issued(NODE, T0, Actor("A1", "client-A1"), scopes=[])
    assert [a["requestor"] for a in event["agent"]] == [True, False, False]
    assert event["agent"][0]["who"]["identifier"]["value"] == "client-A1"


def test_the_node_alone_is_the_requestor_when_nobody_else_acted() -> None:
    event = BUILDERS["rules_loaded"]()
    assert [a["requestor"] for a in event["agent"]] == [True]
    assert event["outcome"] == "8"

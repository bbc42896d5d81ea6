"""Every node records the W3C trace id of the request it serves in each AuditEvent of it (issue 15 item 4), so an
auditor joins the trails of one single view across nodes with ``entity:identifier``; a malformed ``traceparent`` is
ignored (W3C trace context §3.2.2), never recorded."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mais_node.client import Subject, enquiry_parameters
from tests.api.conftest import Node

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_SYSTEM = "https://mais.example.org/fhir/Id/trace-id"
FHIR = {"Content-Type": "application/fhir+json"}
ASK = enquiry_parameters(
    Subject(nhs_number="9991316825", family="Rogers", given="Chantelle", birth_date="2015-03-02"),
    "s47-enquiry",
    ["is-known"],
    [],
)


def enquire(node: Node, traceparent: str) -> None:
    node.organisation("LA0001")
    headers = node.as_("mais/enquiry", ods="LA0001") | FHIR | {"traceparent": traceparent}
    answer = node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(ASK), headers=headers)
    assert answer.status_code == 200, answer.text


def traced(node: Node, trace_id: str) -> list[dict[str, Any]]:
    auditor = node.as_("system/AuditEvent.rs")
    found = node.http.get(
        "/fhir/AuditEvent", params={"entity:identifier": f"{TRACE_SYSTEM}|{trace_id}", "_count": 100}, headers=auditor
    )
    assert found.status_code == 200, found.text
    return [e["resource"] for e in found.json().get("entry", [])]


def test_the_responders_records_of_an_enquiry_carry_its_trace_id(node: Node) -> None:
    enquire(node, f"00-{TRACE}-00f067aa0ba902b7-01")
    events = traced(node, TRACE)
    subtypes = {c["code"] for e in events for c in e.get("subtype", [])}
    assert {"enquiry-received"} <= subtypes
    assert len(events) >= 2  # received, and the decision


@pytest.mark.parametrize(
    "traceparent",
    [
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # upper-case hex is not the format
        f"00-{TRACE}-0000000000000000-01",  # all-zero parent id
        "not a traceparent",
    ],
)
def test_a_malformed_traceparent_is_not_recorded(node: Node, traceparent: str) -> None:
    enquire(node, traceparent)
    assert traced(node, TRACE) == []
    assert traced(node, TRACE.upper()) == []

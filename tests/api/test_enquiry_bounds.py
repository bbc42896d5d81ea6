"""Issue 13 §5: the free-text fields of an enquiry (request id, the authorised user's identifier, name and role) have
documented bounds; a longer value is refused with 422 naming the element, is never echoed, and the audit trail an
enquiry writes stays proportional to the enquiry (a 1 MB request id was copied into five records and 35 index keys)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.audit.index import MAX_INDEX_KEY, index_keys
from mais_node.config import DEFAULTS
from mais_node.enquiry.parse import FREE_TEXT_LIMITS
from tests.api.conftest import Node, make_node
from tests.api.test_enquiry import FHIR, KNOWN, ask, parameters, person, subject

REQUEST_ID, USER_ID, USER_NAME, USER_ROLE = (FREE_TEXT_LIMITS[k] for k in ("requestId", "identifier", "name", "role"))


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Node]:
    """A node taking bodies up to the default 1 MiB, with LA0001 registered and one known person."""
    for node in make_node(tmp_path):
        node.organisation("LA0001")
        admin = {**FHIR, **node.as_("system/*.cruds mais/admin")}
        node.http.post("/fhir/Patient", content=orjson.dumps(person(*KNOWN.values())), headers=admin)
        node.services.persons.refresh()
        yield node


def audit_bytes(node: Node) -> int:
    """What the trail holds: every record's JSON and every index key the store keeps for it."""
    records = list(node.services.audit.scan())
    keys = sum(len(param) + len(value) for record in records for param, value in index_keys(record.event))
    return sum(len(orjson.dumps(record.event)) for record in records) + keys


def user(identifier: str = "SW-42", name: str = "A. Social Worker", role: str = "Social worker") -> dict[str, Any]:
    parts = [
        {"name": "identifier", "valueIdentifier": {"system": "https://example.org/staff", "value": identifier}},
        {"name": "name", "valueString": name},
        {"name": "role", "valueString": role},
    ]
    return {"name": "authorisedUser", "part": parts}


def post(node: Node, body: dict[str, Any]) -> Any:
    headers = {**FHIR, **node.as_("mais/enquiry", "LA0001")}
    return node.http.post("/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers=headers)


def test_a_megabyte_request_id_is_refused_naming_it_and_costs_the_trail_no_more_than_its_body(held: Node) -> None:
    body = parameters({"name": "requestId", "valueString": "r" * 1_000_000})
    raw = orjson.dumps(body)
    before = audit_bytes(held)
    answer = post(held, body)
    assert answer.status_code == 422, answer.text[:300]
    issue = answer.json()["issue"][0]
    assert "requestId" in issue["expression"]
    assert f"at most {REQUEST_ID} characters" in issue["diagnostics"]
    assert len(answer.content) < 2_000
    # The refusal is audited: the received record keeps the body (base64, 4/3 of it), nothing else copies the id.
    grown = audit_bytes(held) - before
    assert grown < len(raw) * 4 // 3 + 8_000
    for record in held.services.audit.scan():
        assert all(len(value) <= MAX_INDEX_KEY for _, value in index_keys(record.event))


@pytest.mark.parametrize(
    ("field", "limit", "extra", "where"),
    [
        ("requestId", REQUEST_ID, lambda v: {"name": "requestId", "valueString": v}, "requestId"),
        ("identifier", USER_ID, lambda v: user(identifier=v), "authorisedUser.identifier"),
        ("name", USER_NAME, lambda v: user(name=v), "authorisedUser.name"),
        ("role", USER_ROLE, lambda v: user(role=v), "authorisedUser.role"),
    ],
)
def test_each_free_text_field_is_taken_up_to_its_bound_and_refused_beyond(
    held: Node, field: str, limit: int, extra: Any, where: str
) -> None:
    at_limit = post(held, parameters(*ask("is-known"), extra("é" * limit)))
    assert at_limit.status_code == 200, at_limit.text
    over = post(held, parameters(*ask("is-known"), extra("é" * (limit + 1))))
    assert over.status_code == 422, over.text[:300]
    issue = over.json()["issue"][0]
    assert where in issue["expression"]
    assert f"at most {limit} characters" in issue["diagnostics"]
    assert "é" * 50 not in over.text


def test_the_task_form_bounds_the_same_fields(held: Node) -> None:
    task = orjson.loads(Path(DEFAULTS / "profiles/examples/mais-enquiry-valid-nhs-number.json").read_bytes())
    role = next(r for r in task["contained"] if r["resourceType"] == "PractitionerRole")
    role["organization"]["identifier"]["value"] = "LA0001"
    task["identifier"][0]["value"] = "t" * (REQUEST_ID + 1)
    role["practitioner"]["display"] = "n" * (USER_NAME + 1)
    headers = {**FHIR, **held.as_("system/Task.crs", "LA0001")}
    answer = held.http.post("/fhir/Task", content=orjson.dumps(task), headers=headers)
    assert answer.status_code == 422, answer.text[:300]
    wheres = [where for issue in answer.json()["issue"] for where in issue.get("expression", [])]
    assert "Task.identifier.value" in wheres
    assert "Task.requester.practitioner.display" in wheres


def test_an_answered_enquiry_with_every_field_at_its_bound_writes_a_trail_proportional_to_it(held: Node) -> None:
    small = parameters(*ask("is-known", "is-open"), {"name": "requestId", "valueString": "r1"}, user())
    big = parameters(
        *ask("is-known", "is-open"),
        {"name": "requestId", "valueString": "r" * REQUEST_ID},
        user("i" * USER_ID, "n" * USER_NAME, "o" * USER_ROLE),
    )
    start = audit_bytes(held)
    assert post(held, small).status_code == 200
    middle = audit_bytes(held)
    assert post(held, big).status_code == 200
    end = audit_bytes(held)
    extra_body = len(orjson.dumps(big)) - len(orjson.dumps(small))
    # Each added character is copied into a bounded number of places: the body once (base64) and each field into
    # the enquiry's records and their keys (measured: 7 copies, 16 KB of trail for a small enquiry, 21 KB at the
    # bounds); the bounds keep the whole under 32 KiB.
    assert (end - middle) - (middle - start) <= 8 * extra_body
    assert end - middle < 32 * 1024


def test_a_value_longer_than_an_index_key_is_indexed_by_its_digest_and_still_found(held: Node) -> None:
    long_number = "9" * 5_000  # no NHS number, but the received record keeps what the subject said
    body = parameters(who=subject(long_number))
    assert post(held, body).status_code in (400, 422)
    stored = [value for record in held.services.audit.scan() for _, value in index_keys(record.event)]
    assert long_number not in stored
    assert max(len(value) for value in stored) <= MAX_INDEX_KEY
    found = held.http.get(f"/fhir/AuditEvent?patient={long_number}", headers=held.as_("system/AuditEvent.rs"))
    assert found.status_code == 200, found.text[:300]
    entries = found.json()["entry"]
    assert len(entries) == 1
    assert "enquiry-received" in [c["code"] for c in entries[0]["resource"]["subtype"]]

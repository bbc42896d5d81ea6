"""Issue 13 §13: input the node used to accept by guessing is refused, naming what is wrong.

A parameter the operation takes once, given 5,000 times ("the last wins"); a body declared ``charset=latin-1`` read
as UTF-8; a search posted with a body that is no form (a NUL byte) answered 200 with every Contract.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.hostile.conftest import KNOWN, NHS, World

S47 = "https://www.legislation.gov.uk/ukpga/1989/41/section/47"
QUERY = "/fhir/Patient/$person-info-query"


def enquiry(*extra: dict[str, Any]) -> dict[str, Any]:
    subject = {**KNOWN, "identifier": [{"system": NHS, "value": "9434765919"}]}
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": subject}, {"name": "reason", "valueUri": S47}, *extra],
    }


def ask(world: World, body: bytes, content_type: str = "application/fhir+json") -> Any:
    headers = {"content-type": content_type, **world.headers["enquirer"]}
    return world.http.post(QUERY, content=body, headers=headers)


@pytest.mark.parametrize(
    "repeated",
    [
        [{"name": "requestId", "valueString": f"r-{n}"} for n in range(5_000)],
        [{"name": "reason", "valueUri": S47}],
        [{"name": "consent", "valueCode": "given"}, {"name": "consent", "valueCode": "refused"}],
        [{"name": "requester", "valueIdentifier": {"value": "LA0001"}}] * 2,
    ],
    ids=["requestId x5000", "reason x2", "consent x2", "requester x2"],
)
def test_a_parameter_taken_once_and_given_several_times_is_refused_naming_it(
    world: World, repeated: list[dict[str, Any]]
) -> None:
    name = repeated[0]["name"]
    before = len(world.audit_subtypes())
    answer = ask(world, orjson.dumps(enquiry(*repeated)))
    assert answer.status_code == 422, answer.text[:300]
    issues = answer.json()["issue"]
    repeats = [i for i in issues if name in i.get("expression", []) and "once" in i["diagnostics"]]
    assert len(repeats) == 1, issues[:3]
    assert len(answer.content) < 4_000
    assert len(world.audit_subtypes()) > before  # the refusal is audited like every other malformed enquiry


@pytest.mark.parametrize("charset", ["latin-1", "iso-8859-1", "utf-16", "windows-1252"])
def test_a_body_in_another_charset_than_utf8_is_refused_with_415(world: World, charset: str) -> None:
    body = orjson.dumps(enquiry({"name": "requestId", "valueString": "Zoë"}))
    answer = ask(world, body, f"application/fhir+json; charset={charset}")
    assert answer.status_code == 415, answer.text[:300]
    issue = answer.json()["issue"][0]
    assert issue["expression"] == ["Content-Type"]
    assert "utf-8" in issue["diagnostics"].lower()


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"'])
def test_a_body_declared_utf8_is_read(world: World, charset: str) -> None:
    body = orjson.dumps(enquiry({"name": "requestId", "valueString": "Zoë"}))
    answer = ask(world, body, f"application/fhir+json; charset={charset}")
    assert answer.status_code in (200, 202), answer.text[:300]  # answered, or referred: read either way


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/fhir/Patient", "application/fhir+json; charset=latin-1"),
        ("/auth/register/organisations", "application/json; charset=latin-1"),
    ],
)
def test_every_json_body_refuses_another_charset(world: World, path: str, content_type: str) -> None:
    answer = world.http.post(path, content=b"{}", headers={"content-type": content_type, **world.headers["operator"]})
    assert answer.status_code == 415, answer.text[:300]


def test_a_json_patch_in_another_charset_is_refused(world: World) -> None:
    headers = {"content-type": "application/json-patch+json; charset=latin-1", **world.headers["operator"]}
    patch = [{"op": "replace", "path": "/gender", "value": "female"}]
    answer = world.http.patch(f"/fhir/Patient/{world.pid}", content=orjson.dumps(patch), headers=headers)
    assert answer.status_code == 415, answer.text[:300]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\x00", None, 415),
        (b"\x00", "application/fhir+json", 415),
        (b"\x00", "application/x-www-form-urlencoded", 400),
        (b"name=Ok\x00afor", "application/x-www-form-urlencoded", 400),
        (b"name=\xff", "application/x-www-form-urlencoded", 400),
    ],
    ids=["no content type", "json", "form NUL", "form NUL in value", "form not utf-8"],
)
def test_a_posted_search_whose_body_is_no_form_is_refused(
    world: World, body: bytes, content_type: str | None, status: int
) -> None:
    headers = {**world.headers["operator"], **({"content-type": content_type} if content_type else {})}
    answer = world.http.post("/fhir/Contract/_search", content=body, headers=headers)
    assert answer.status_code == status, answer.text[:300]
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_posted_search_with_a_form_or_no_body_is_answered(world: World) -> None:
    headers = {**world.headers["operator"], "content-type": "application/x-www-form-urlencoded"}
    found = world.http.post("/fhir/Patient/_search", content=b"family=Okafor", headers=headers)
    assert found.status_code == 200, found.text[:300]
    assert [e["resource"]["name"][0]["family"] for e in found.json().get("entry", [])] == ["Okafor"]
    empty = world.http.post("/fhir/Patient/_search", headers=world.headers["operator"])
    assert empty.status_code == 200, empty.text[:300]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/fhir/Patient?_count=1&_count=200", "_count"),
        ("/fhir/Patient?_sort=family&_sort=-family", "_sort"),
        ("/fhir/Patient?_summary=count&_summary=false", "_summary"),
        ("/fhir/Patient?_total=none&_total=accurate", "_total"),
        ("/fhir/_history?_count=1&_count=5", "_count"),
        ("/fhir/Patient/_history?_since=2020-01-01&_since=2030-01-01", "_since"),
        ("/fhir/CodeSystem/$lookup?system=a&system=b&code=x", "system"),
        ("/fhir/ValueSet/$expand?url=a&url=b", "url"),
        ("/fhir/AuditEvent?_count=1&_count=500", "_count"),
    ],
)
def test_a_query_parameter_taken_once_and_given_twice_is_refused_naming_it(world: World, path: str, name: str) -> None:
    headers = world.headers["auditor" if "AuditEvent" in path else "operator"]
    answer = world.http.get(path, headers=headers)
    assert answer.status_code == 400, answer.text[:300]
    issue = answer.json()["issue"][0]
    assert issue["expression"] == [name]
    assert "once" in issue["diagnostics"]

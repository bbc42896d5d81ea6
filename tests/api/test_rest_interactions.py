"""Reads shaped by ``_summary`` / ``_elements``, conditional reads, ``Prefer: return``, PATCH, and conditional
update and delete, through HTTP in process (FHIR R4 §3.1.0; issue 12 item 6)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Node
from tests.builders import NHS, organization, patient

FHIR = {"content-type": "application/fhir+json"}
PATCH = {"content-type": "application/json-patch+json"}


@pytest.fixture
def client(node: Node, operator: dict[str, str]) -> TestClient:
    node.http.headers.update(operator)
    return node.http


def post(client: TestClient, rtype: str, body: dict[str, object]) -> str:
    response = client.post(f"/fhir/{rtype}", content=orjson.dumps(body), headers=FHIR)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def with_text(**changes: object) -> dict[str, object]:
    return patient(
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">John</div>'}, **changes
    )


# -- reads ------------------------------------------------------------------------------------------------------


def test_summary_true_on_read_keeps_the_summary_elements_and_tags_the_subset(client: TestClient) -> None:
    pid = post(client, "Patient", with_text(maritalStatus={"text": "Married"}))
    summary = client.get(f"/fhir/Patient/{pid}?_summary=true").json()
    assert {"identifier", "name", "gender", "birthDate"} <= set(summary)
    assert "maritalStatus" not in summary  # not a summary element of Patient
    assert "text" not in summary
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"} in summary[
        "meta"
    ]["tag"]


def test_summary_text_data_and_false_on_read(client: TestClient) -> None:
    pid = post(client, "Patient", with_text())
    text = client.get(f"/fhir/Patient/{pid}?_summary=text").json()
    assert set(text) == {"resourceType", "id", "meta", "text"}
    data = client.get(f"/fhir/Patient/{pid}?_summary=data").json()
    assert "text" not in data
    assert data["name"][0]["family"] == "Smith"
    full = client.get(f"/fhir/Patient/{pid}?_summary=false").json()
    assert "text" in full
    assert "tag" not in full["meta"]


def test_summary_in_a_search_shapes_every_entry(client: TestClient) -> None:
    post(client, "Patient", with_text(maritalStatus={"text": "Married"}))
    bundle = client.get("/fhir/Patient?_summary=true").json()
    entry = bundle["entry"][0]["resource"]
    assert "maritalStatus" not in entry
    assert "gender" in entry
    assert not [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]


def test_a_bad_summary_value_is_refused_naming_it(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    for url in (f"/fhir/Patient/{pid}?_summary=some", "/fhir/Patient?_summary=some"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.json()["issue"][0]["expression"] == ["_summary"]


def test_elements_on_read_and_vread(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    for url in (f"/fhir/Patient/{pid}?_elements=gender", f"/fhir/Patient/{pid}/_history/1?_elements=gender"):
        subset = client.get(url).json()
        assert set(subset) == {"resourceType", "id", "meta", "gender"}, url
        assert subset["meta"]["tag"][0]["code"] == "SUBSETTED"


def test_last_modified_is_an_http_date(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    read = client.get(f"/fhir/Patient/{pid}")
    header = read.headers["last-modified"]
    assert header.endswith(" GMT")
    moment = parsedate_to_datetime(header)
    assert moment.isoformat(timespec="seconds").replace("+00:00", "") == read.json()["meta"]["lastUpdated"][:19]


def test_if_none_match_gives_304_and_a_new_version_gives_200(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    first = client.get(f"/fhir/Patient/{pid}")
    etag = first.headers["etag"]
    same = client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": '"1"'}).status_code == 304
    client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid, gender="female")), headers=FHIR)
    changed = client.get(f"/fhir/Patient/{pid}", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["gender"] == "female"


def test_if_modified_since_gives_304_when_unchanged(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    modified = client.get(f"/fhir/Patient/{pid}").headers["last-modified"]
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": modified}).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(f"/fhir/Patient/{pid}", headers={"If-Modified-Since": old}).status_code == 200


# -- Prefer: return ---------------------------------------------------------------------------------------------


def test_prefer_return_minimal_and_operation_outcome(client: TestClient) -> None:
    minimal = client.post(
        "/fhir/Patient", content=orjson.dumps(patient()), headers={**FHIR, "Prefer": "return=minimal"}
    )
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["location"]
    assert minimal.headers["etag"] == 'W/"1"'
    pid = minimal.headers["location"].split("/Patient/")[1].split("/")[0]
    outcome = client.put(
        f"/fhir/Patient/{pid}",
        content=orjson.dumps(patient(id=pid)),
        headers={**FHIR, "Prefer": "return=OperationOutcome"},
    )
    assert outcome.status_code == 200
    assert outcome.json()["resourceType"] == "OperationOutcome"
    assert outcome.json()["issue"][0]["severity"] == "information"
    full = client.put(
        f"/fhir/Patient/{pid}",
        content=orjson.dumps(patient(id=pid)),
        headers={**FHIR, "Prefer": "return=representation"},
    )
    assert full.json()["resourceType"] == "Patient"


# -- PATCH ------------------------------------------------------------------------------------------------------


def test_json_patch_changes_the_resource_as_an_update(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    ops = [
        {"op": "test", "path": "/gender", "value": "male"},
        {"op": "replace", "path": "/gender", "value": "female"},
        {"op": "add", "path": "/name/0/given/-", "value": "Paul"},
        {"op": "remove", "path": "/address"},
    ]
    patched = client.patch(f"/fhir/Patient/{pid}", content=orjson.dumps(ops), headers={**PATCH, "If-Match": 'W/"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == 'W/"2"'
    body = client.get(f"/fhir/Patient/{pid}").json()
    assert body["gender"] == "female"
    assert body["name"][0]["given"] == ["John", "Paul"]
    assert "address" not in body
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["gender"] == "male"


def test_a_stale_patch_is_412_and_changes_nothing(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid)), headers=FHIR)
    ops = [{"op": "replace", "path": "/gender", "value": "female"}]
    stale = client.patch(f"/fhir/Patient/{pid}", content=orjson.dumps(ops), headers={**PATCH, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert client.get(f"/fhir/Patient/{pid}").json()["gender"] == "male"


@pytest.mark.parametrize(
    ("ops", "named"),
    [
        ([{"op": "test", "path": "/gender", "value": "female"}], "op 0 (test /gender)"),
        ([{"op": "add", "path": "/gender", "value": "x"}, {"op": "remove", "path": "/shoe"}], "op 1 (remove /shoe)"),
        ([{"op": "replace", "path": "/name/7/family", "value": "X"}], "op 0 (replace /name/7/family)"),
        ([{"op": "jump", "path": "/gender"}], "op 0 (jump"),
        ([{"op": "move", "from": "/name", "path": "/name/0"}], "op 0 (move /name/0)"),
        ({"op": "add"}, "a JSON array"),
    ],
)
def test_a_bad_patch_is_422_naming_the_op_and_changes_nothing(client: TestClient, ops: object, named: str) -> None:
    pid = post(client, "Patient", patient())
    response = client.patch(f"/fhir/Patient/{pid}", content=orjson.dumps(ops), headers=PATCH)
    assert response.status_code == 422, response.text
    assert named in response.json()["issue"][0]["diagnostics"]
    assert client.get(f"/fhir/Patient/{pid}").headers["etag"] == 'W/"1"'


def test_a_patch_giving_an_invalid_resource_is_refused_like_an_update(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    ops = [{"op": "add", "path": "/shoeSize", "value": 9}]
    response = client.patch(f"/fhir/Patient/{pid}", content=orjson.dumps(ops), headers=PATCH)
    assert response.status_code == 400
    assert "Patient.shoeSize" in response.json()["issue"][0]["expression"]
    moved = [{"op": "replace", "path": "/id", "value": "other"}]
    assert client.patch(f"/fhir/Patient/{pid}", content=orjson.dumps(moved), headers=PATCH).status_code == 400
    assert client.get(f"/fhir/Patient/{pid}").headers["etag"] == 'W/"1"'


@pytest.mark.parametrize("depth", [200, 450, 600, 900])
def test_a_deeply_nested_patch_is_refused_not_a_500(client: TestClient, depth: int) -> None:
    pid = post(client, "Patient", patient())
    value = '{"a":' * depth + '"x"' + "}" * depth  # written out: orjson refuses to write past 254 levels
    for content_type, body in (
        ("application/json-patch+json", f'[{{"op": "add", "path": "/extension", "value": [{value}]}}]'),
        ("application/merge-patch+json", f'{{"extension": [{value}]}}'),
    ):
        headers = {"content-type": content_type}
        response = client.patch(f"/fhir/Patient/{pid}", content=body.encode(), headers=headers)
        assert response.status_code in (400, 422), (content_type, response.status_code)
        assert response.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/fhir/Patient/{pid}").headers["etag"] == 'W/"1"'


def test_patch_of_an_unknown_resource_is_404_and_of_another_media_type_415(client: TestClient) -> None:
    ops = orjson.dumps([{"op": "replace", "path": "/gender", "value": "female"}])
    assert client.patch("/fhir/Patient/nobody", content=ops, headers=PATCH).status_code == 404
    pid = post(client, "Patient", patient())
    refused = client.patch(f"/fhir/Patient/{pid}", content=ops, headers={"content-type": "application/xml"})
    assert refused.status_code == 415
    assert "application/json-patch+json" in refused.json()["issue"][0]["diagnostics"]


def test_a_patch_to_a_governed_type_needs_its_role_and_is_audited(node: Node, client: TestClient) -> None:
    oid = post(client, "Organization", organization())
    ops = orjson.dumps([{"op": "replace", "path": "/name", "value": "Leeds CC"}])
    plain = node.as_("system/*.cruds")
    assert client.patch(f"/fhir/Organization/{oid}", content=ops, headers={**PATCH, **plain}).status_code == 403
    assert client.patch(f"/fhir/Organization/{oid}", content=ops, headers=PATCH).status_code == 200
    trail = client.get("/fhir/AuditEvent?_count=200").json()["entry"]
    changes = [
        (sub["code"], what["reference"])
        for event in (e["resource"] for e in trail if e["search"]["mode"] == "match")
        for what in (x.get("what", {}) for x in event.get("entity", ()))
        if what.get("reference", "").startswith(f"Organization/{oid}/")
        for sub in event.get("subtype", ())
        if sub["system"] == "http://hl7.org/fhir/restful-interaction"
    ]
    assert sorted(changes) == [
        ("create", f"Organization/{oid}/_history/1"),
        ("update", f"Organization/{oid}/_history/2"),
    ]


# -- conditional update and delete -------------------------------------------------------------------------------


def test_conditional_update_creates_updates_or_refuses_by_the_number_of_matches(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={NHS}|9434765919"
    created = client.put(url, content=orjson.dumps(patient()), headers=FHIR)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    updated = client.put(url, content=orjson.dumps(patient(gender="female")), headers=FHIR)
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == pid
    assert updated.headers["etag"] == 'W/"2"'
    wrong_id = client.put(url, content=orjson.dumps(patient(id="someone-else")), headers=FHIR)
    assert wrong_id.status_code == 400
    post(client, "Patient", patient())
    several = client.put(url, content=orjson.dumps(patient()), headers=FHIR)
    assert several.status_code == 412
    assert "more than one" in several.json()["issue"][0]["diagnostics"]


def test_an_update_that_creates_needs_the_create_scope(node: Node, client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={NHS}|9434765919"
    update_only = node.as_("system/Patient.u")
    refused = client.put(url, content=orjson.dumps(patient()), headers={**FHIR, **update_only})
    assert refused.status_code == 403
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 0
    assert (
        client.put(
            "/fhir/Patient/new-one", content=orjson.dumps(patient(id="new-one")), headers={**FHIR, **update_only}
        ).status_code
        == 403
    )
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 0
    pid = post(client, "Patient", patient())
    allowed = client.put(url, content=orjson.dumps(patient(gender="female")), headers={**FHIR, **update_only})
    assert allowed.status_code == 200, allowed.text
    by_id = client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid)), headers={**FHIR, **update_only})
    assert by_id.status_code == 200, by_id.text


def test_conditional_update_and_delete_refuse_unknown_or_missing_criteria(client: TestClient) -> None:
    post(client, "Patient", patient())
    unknown = client.put("/fhir/Patient?shoe-size=9", content=orjson.dumps(patient()), headers=FHIR)
    assert unknown.status_code == 400
    assert unknown.json()["issue"][0]["expression"] == ["shoe-size"]
    bare = client.put("/fhir/Patient", content=orjson.dumps(patient()), headers=FHIR)
    assert bare.status_code == 400
    assert client.delete("/fhir/Patient").status_code == 400
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 1


def test_a_conditional_create_without_criteria_is_refused_not_matched_to_anything(client: TestClient) -> None:
    post(client, "Patient", patient())
    for header in ("_count=1", "", "_summary=count"):
        response = client.post(
            "/fhir/Patient", content=orjson.dumps(patient()), headers={**FHIR, "If-None-Exist": header}
        )
        assert response.status_code == 400, header
        assert response.json()["issue"][0]["expression"] == ["If-None-Exist"]
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 1
    post(client, "Patient", patient())
    several = client.post(
        "/fhir/Patient",
        content=orjson.dumps(patient()),
        headers={**FHIR, "If-None-Exist": f"identifier={NHS}|9434765919"},
    )
    assert several.status_code == 412


def test_criteria_in_a_create_url_make_it_conditional_not_ignored(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={NHS}|9434765919"
    first = client.post(url, content=orjson.dumps(patient()), headers=FHIR)
    assert first.status_code == 201
    again = client.post(url, content=orjson.dumps(patient()), headers=FHIR)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 1
    both = client.post(url, content=orjson.dumps(patient()), headers={**FHIR, "If-None-Exist": "identifier=x|y"})
    assert both.status_code == 400


def test_conditional_delete_by_the_number_of_matches(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={NHS}|9434765919"
    assert client.delete(url).status_code == 204  # nothing matches: nothing to do
    pid = post(client, "Patient", patient())
    assert client.delete(url).status_code == 204
    assert client.get(f"/fhir/Patient/{pid}").status_code == 410
    post(client, "Patient", patient())
    post(client, "Patient", patient())
    several = client.delete(url)
    assert several.status_code == 412
    assert client.get(f"{url}&_summary=count").json()["total"] == 2


def test_conditional_patch_and_merge_patch(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={NHS}|9434765919"
    merge = orjson.dumps({"gender": "female", "address": None})
    assert client.patch(url, content=merge, headers={"content-type": "application/merge-patch+json"}).status_code == 404
    pid = post(client, "Patient", patient())
    patched = client.patch(url, content=merge, headers={"content-type": "application/json"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["id"] == pid
    assert patched.json()["gender"] == "female"
    assert "address" not in patched.json()
    post(client, "Patient", patient())
    assert client.patch(url, content=merge, headers={"content-type": "application/merge-patch+json"}).status_code == 412


def test_delete_honours_if_match(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid)), headers=FHIR)
    assert client.delete(f"/fhir/Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 412
    assert client.get(f"/fhir/Patient/{pid}").status_code == 200
    assert client.delete(f"/fhir/Patient/{pid}", headers={"If-Match": 'W/"2"'}).status_code == 204


def test_the_capability_statement_declares_what_is_implemented(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    rest = statement["rest"][0]
    patient_entry = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert "patch" in {i["code"] for i in patient_entry["interaction"]}
    assert patient_entry["conditionalUpdate"] is True
    assert patient_entry["conditionalDelete"] == "single"
    assert patient_entry["conditionalRead"] == "full-support"
    assert patient_entry["versioning"] == "versioned-update"
    assert "application/json-patch+json" in statement["patchFormat"]

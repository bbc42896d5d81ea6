"""The FHIR REST API through HTTP, in process: interactions, headers, and every bad input of DESIGN §10."""

from __future__ import annotations

import gc
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from mais_node.app import GC_THRESHOLDS, create_app
from mais_node.config import Settings
from tests.api.conftest import Node
from tests.builders import NHS, episode, organization, patient

FHIR = {"content-type": "application/fhir+json"}
# Valid FHIR nested 300 levels (extensions in extensions): checking it recursed past Python's stack, a 500.
NESTED_EXTENSIONS = (
    orjson.dumps(patient())[:-1]
    + b',"extension":['
    + b'{"url":"http://e","extension":[' * 300
    + b'{"url":"http://e","valueString":"x"}'
    + b"]}" * 300
    + b"]}"
)


@pytest.fixture
def client(node: Node, operator: dict[str, str]) -> TestClient:
    """The node's HTTP client, as a node operator's system (a token with every FHIR interaction)."""
    node.http.headers.update(operator)
    return node.http


def post(client: TestClient, rtype: str, body: dict[str, object]) -> str:
    response = client.post(f"/fhir/{rtype}", content=orjson.dumps(body), headers=FHIR)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def snapshot(client: TestClient) -> list[object]:
    return client.get("/fhir/_history?_count=200").json()["entry"]


def test_create_answers_201_with_location_etag_and_version(client: TestClient) -> None:
    response = client.post("/fhir/Patient", content=orjson.dumps(patient()), headers=FHIR)
    assert response.status_code == 201
    body = response.json()
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert body["meta"]["versionId"] == "1"


def test_read_vread_update_delete_round_trip(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    assert client.get(f"/fhir/Patient/{pid}").json()["gender"] == "male"
    updated = client.put(
        f"/fhir/Patient/{pid}",
        content=orjson.dumps(patient(id=pid, gender="female")),
        headers={**FHIR, "If-Match": 'W/"1"'},
    )
    assert updated.status_code == 200
    assert updated.headers["etag"] == 'W/"2"'
    assert client.get(f"/fhir/Patient/{pid}/_history/1").json()["gender"] == "male"
    assert client.delete(f"/fhir/Patient/{pid}").status_code == 204
    gone = client.get(f"/fhir/Patient/{pid}")
    assert gone.status_code == 410
    assert gone.json()["resourceType"] == "OperationOutcome"
    history = client.get(f"/fhir/Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "PUT", "POST"]


def test_stale_if_match_is_412_and_changes_nothing(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid, gender="female")), headers=FHIR)
    stale = client.put(
        f"/fhir/Patient/{pid}",
        content=orjson.dumps(patient(id=pid, gender="other")),
        headers={**FHIR, "If-Match": 'W/"1"'},
    )
    assert stale.status_code == 412
    assert client.get(f"/fhir/Patient/{pid}").json()["gender"] == "female"


def test_conditional_create_with_if_none_exist(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    again = client.post(
        "/fhir/Patient",
        content=orjson.dumps(patient()),
        headers={**FHIR, "If-None-Exist": f"identifier={NHS}|9434765919"},
    )
    assert again.status_code == 200
    assert again.json()["id"] == pid


def test_search_bundle_has_self_and_next_links_that_page(client: TestClient) -> None:
    for i in range(5):
        post(client, "Patient", patient(name=[{"family": f"Jones{i}"}]))
    page = client.get("/fhir/Patient?family=jones&_count=2&_sort=family").json()
    names = [e["resource"]["name"][0]["family"] for e in page["entry"]]
    while (nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None)) is not None:
        page = client.get(nxt.split("http://127.0.0.1:8080", 1)[1]).json()
        names += [e["resource"]["name"][0]["family"] for e in page["entry"]]
    assert names == [f"Jones{i}" for i in range(5)]


def test_search_reports_unknown_parameters_or_refuses_them_in_strict_mode(client: TestClient) -> None:
    post(client, "Patient", patient())
    lenient = client.get("/fhir/Patient?shoe-size=9").json()
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = client.get("/fhir/Patient?shoe-size=9", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["shoe-size"]


def test_include_and_revinclude_over_http(client: TestClient) -> None:
    org = post(client, "Organization", organization())
    pid = post(client, "Patient", patient())
    post(client, "EpisodeOfCare", episode(pid, org))
    bundle = client.get(f"/fhir/Patient?_id={pid}&_revinclude=EpisodeOfCare:patient").json()
    assert sorted(e["search"]["mode"] for e in bundle["entry"]) == ["include", "match"]


def test_summary_count_and_elements(client: TestClient) -> None:
    post(client, "Patient", patient())
    counted = client.get("/fhir/Patient?_summary=count").json()
    assert counted["total"] == 1
    assert counted["entry"] == []
    subset = client.get("/fhir/Patient?_elements=gender").json()["entry"][0]["resource"]
    assert set(subset) == {"resourceType", "id", "meta", "gender"}
    assert subset["meta"]["tag"][0]["code"] == "SUBSETTED"


def test_format_json_and_application_json_are_accepted(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    assert client.get(f"/fhir/Patient/{pid}?_format=json").status_code == 200
    assert client.get(f"/fhir/Patient/{pid}", headers={"Accept": "application/json"}).status_code == 200
    created = client.post(
        "/fhir/Patient", content=orjson.dumps(patient()), headers={"content-type": "application/json"}
    )
    assert created.status_code == 201
    assert client.get(f"/fhir/Patient/{pid}?_format=xml").status_code == 406


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"}).headers["x-request-id"]
    assert len(generated) == 32


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["store"] == "ok"
    client.get("/fhir/metadata")
    metrics = client.get("/metrics").text
    assert 'mais_http_requests_total{method="GET",route="/fhir/metadata",status="200"}' in metrics


def test_start_freezes_what_it_built_and_collects_less_often(tmp_path: Path) -> None:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        with TestClient(create_app(Settings(store=f"sqlite:///{tmp_path / 'x.db'}"))) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 10_000  # the services and everything imported before them
            assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def test_readyz_is_503_when_the_store_is_gone(tmp_path: Path) -> None:
    app = create_app(Settings(store=f"sqlite:///{tmp_path / 'x.db'}"))
    with TestClient(app) as client:
        app.state.services.close()
        (tmp_path / "x.db").unlink()
        (tmp_path / "x.db").mkdir()
        assert client.get("/readyz").status_code == 503


def test_capability_statement_is_generated_from_the_declared_parameters(client: TestClient) -> None:
    from mais_node.fhir.search.params import DECLARED

    statement = client.get("/fhir/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for rtype, params in DECLARED.items():
        declared = {p["name"] for p in resources[rtype]["searchParam"]}
        assert {p.name for p in params} <= declared
    assert {"read", "vread", "search-type"} == {i["code"] for i in resources["AuditEvent"]["interaction"]}


# -- bad input: each gets its OperationOutcome and status, names the element, and leaves the store as it was --


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "expression"),
    [
        ("POST", "/fhir/Patient", b"{not json", FHIR, 400, None),
        ("POST", "/fhir/Patient", orjson.dumps(organization()), FHIR, 400, "resourceType"),
        ("POST", "/fhir/Patient", orjson.dumps({**patient(), "shoeSize": 9}), FHIR, 400, "Patient.shoeSize"),
        (
            "POST",
            "/fhir/Patient",
            orjson.dumps({**patient(), "birthDate": "1990-02-31x"}),
            FHIR,
            400,
            "Patient.birthDate",
        ),
        ("POST", "/fhir/Patient", orjson.dumps(patient()), {"content-type": "application/xml"}, 415, "Content-Type"),
        (
            "POST",
            "/fhir/Patient",
            orjson.dumps({**patient(), "text": {"status": "generated", "div": "x" * 70000}}),
            FHIR,
            413,
            None,
        ),
        ("PUT", "/fhir/Patient/abc", orjson.dumps(patient(id="xyz")), FHIR, 400, "id"),
        ("POST", "/fhir/Patient", NESTED_EXTENSIONS, FHIR, 400, None),
        ("GET", "/fhir/Patient?_count=-1", None, {}, 400, "_count"),
        ("GET", "/fhir/Patient?birthdate=notadate", None, {}, 400, None),
        ("GET", "/fhir/Patient?name:sounds-like=x", None, {}, 400, "name"),
        ("POST", "/fhir/AuditEvent", orjson.dumps({"resourceType": "AuditEvent"}), FHIR, 405, None),
        ("PUT", "/fhir/AuditEvent/1", orjson.dumps({"resourceType": "AuditEvent"}), FHIR, 405, None),
        ("DELETE", "/fhir/AuditEvent/1", None, {}, 405, None),
        ("GET", "/fhir/Shoe/1", None, {}, 404, "type"),
        ("GET", "/fhir/Patient/1/_history/x", None, {}, 404, None),
    ],
)
def test_bad_input_is_refused_with_an_outcome_and_changes_nothing(
    client: TestClient,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
    expression: str | None,
) -> None:
    post(client, "Patient", patient())
    before = snapshot(client)
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] in ("error", "fatal")
    if expression is not None:
        assert expression in outcome["issue"][0]["expression"]
    assert "Traceback" not in response.text
    assert "/work/" not in response.text
    assert snapshot(client) == before


def test_every_structural_issue_is_listed(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient", content=orjson.dumps({**patient(), "shoeSize": 9, "birthDate": "x"}), headers=FHIR
    )
    assert response.status_code == 400
    expressions = {e for issue in response.json()["issue"] for e in issue["expression"]}
    assert {"Patient.shoeSize", "Patient.birthDate"} <= expressions


def test_an_unexpected_error_is_a_bare_500(node: Node, operator: dict[str, str]) -> None:
    def explode(*args: object, **kwargs: object) -> object:
        raise RuntimeError("secret path /etc/shadow")

    node.services.resources.read = explode  # type: ignore[method-assign]
    with TestClient(node.http.app, raise_server_exceptions=False) as client:
        response = client.get("/fhir/Patient/abc", headers=operator)
    assert response.status_code == 500
    assert response.json()["issue"][0]["diagnostics"] == "Internal Server Error"
    assert "shadow" not in response.text


def test_capability_statement_lists_the_profiles_and_operations(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert "https://mais.example.org/fhir/StructureDefinition/mais-enquiry" in resources["Task"]["supportedProfile"]
    assert "https://mais.example.org/fhir/StructureDefinition/mais-person" in resources["Patient"]["supportedProfile"]
    operations = {(rtype, op["name"]) for rtype, r in resources.items() for op in r.get("operation", [])}
    assert {
        ("Patient", "person-info-query"),
        ("Patient", "match"),
        ("CodeSystem", "lookup"),
        ("ValueSet", "expand"),
    } <= operations
    assert {p["name"] for p in resources["AuditEvent"]["searchParam"]} >= {
        "date",
        "agent",
        "patient",
        "policy",
        "purpose",
    }

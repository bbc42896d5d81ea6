"""Paging, counts and search semantics as a partner's unmodified FHIR client meets them (issue 12 items 5 and 6)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Node, make_node
from tests.builders import episode, organization, patient

FHIR = {"content-type": "application/fhir+json"}
GENDER = "http://hl7.org/fhir/administrative-gender"


@pytest.fixture
def client(node: Node, operator: dict[str, str]) -> TestClient:
    node.http.headers.update(operator)
    return node.http


def post(client: TestClient, rtype: str, body: dict[str, object]) -> str:
    response = client.post(f"/fhir/{rtype}", content=orjson.dumps(body), headers=FHIR)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def link(bundle: dict[str, object], relation: str) -> str | None:
    links = bundle["link"]
    assert isinstance(links, list)
    return next((str(x["url"]) for x in links if x["relation"] == relation), None)


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def warnings_of(bundle: dict[str, object]) -> list[str]:
    entries = bundle["entry"]
    assert isinstance(entries, list)
    return [
        issue["diagnostics"]
        for entry in entries
        if entry["search"]["mode"] == "outcome"
        for issue in entry["resource"]["issue"]
    ]


def test_a_count_above_the_maximum_returns_a_full_page_and_says_so(node: Node, client: TestClient) -> None:
    maximum = node.services.settings.max_page_size
    for _ in range(3):
        post(client, "Patient", patient())
    response = client.get("/fhir/Patient?_count=500")
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert len([e for e in bundle["entry"] if e["search"]["mode"] == "match"]) == 3
    assert ("_count", str(maximum)) in query_of(link(bundle, "self") or "")
    assert any(
        f"_count=500 is more than this server's maximum page size of {maximum}" in w for w in warnings_of(bundle)
    )


def test_a_count_above_the_maximum_pages_by_the_maximum(tmp_path: Path) -> None:
    for small in make_node(tmp_path, max_page_size=2):
        headers = small.as_()
        for _ in range(3):
            created = small.http.post("/fhir/Patient", content=orjson.dumps(patient()), headers={**FHIR, **headers})
            assert created.status_code == 201, created.text
        first = small.http.get("/fhir/Patient?_count=500", headers=headers).json()
        assert len([e for e in first["entry"] if e["search"]["mode"] == "match"]) == 2
        nxt = link(first, "next")
        assert nxt is not None
        assert ("_count", "2") in query_of(nxt)


def test_count_zero_reports_the_true_total_like_summary_count(client: TestClient) -> None:
    for _ in range(3):
        post(client, "Patient", patient())
    zero = client.get("/fhir/Patient?_count=0").json()
    assert zero["total"] == 3
    assert [e for e in zero["entry"] if e["search"]["mode"] == "match"] == []
    assert client.get("/fhir/Patient?_summary=count").json()["total"] == 3


def test_the_self_link_holds_only_the_parameters_the_search_used(client: TestClient) -> None:
    post(client, "Patient", patient())
    bundle = client.get("/fhir/Patient?family=smith&shoe-size=9&_totalMethod=count").json()
    used = query_of(link(bundle, "self") or "")
    assert ("family", "smith") in used
    assert all(name not in ("shoe-size", "_totalMethod") for name, _ in used)
    assert any("shoe-size" in w for w in warnings_of(bundle))


def test_a_history_self_link_drops_what_history_does_not_use(client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    history = client.get(f"/fhir/Patient/{pid}/_history?_count=500&shoe-size=9").json()
    used = query_of(link(history, "self") or "")
    assert ("_count", "200") in used
    assert all(name != "shoe-size" for name, _ in used)
    strict = client.get(f"/fhir/Patient/{pid}/_history?_at=2026", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["_at"]


def test_history_since_is_applied_and_kept_in_the_links(node: Node, client: TestClient) -> None:
    pid = post(client, "Patient", patient())
    first = client.get(f"/fhir/Patient/{pid}").json()["meta"]["lastUpdated"]
    client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid, gender="female")), headers=FHIR)
    second = client.get(f"/fhir/Patient/{pid}").json()["meta"]["lastUpdated"]
    assert second > first
    history = client.get("/fhir/Patient/_history", params={"_since": second, "_count": "1"}).json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2"]
    assert ("_since", second) in query_of(link(history, "self") or "")
    assert link(history, "next") is None
    everything = client.get("/fhir/_history", params={"_since": first}).json()
    assert len(everything["entry"]) == 2
    bad = client.get("/fhir/_history?_since=yesterday")
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["_since"]


def test_a_token_search_by_system_and_code_finds_code_elements(client: TestClient) -> None:
    male = post(client, "Patient", patient(gender="male"))
    post(client, "Patient", patient(gender="female"))
    assert ids(client, f"/fhir/Patient?gender={GENDER}|male") == [male]
    assert ids(client, "/fhir/Patient?gender=male") == [male]
    assert ids(client, "/fhir/Patient?gender=http://example.org/other|male") == []
    org = post(client, "Organization", organization())
    active = post(client, "EpisodeOfCare", episode(male, org))
    post(client, "EpisodeOfCare", episode(male, org, status="finished"))
    assert ids(client, "/fhir/EpisodeOfCare?status=http://hl7.org/fhir/episode-of-care-status|active") == [active]


def test_a_reference_search_by_this_servers_absolute_url(node: Node, client: TestClient) -> None:
    org = post(client, "Organization", organization())
    pid = post(client, "Patient", patient(managingOrganization={"reference": f"Organization/{org}"}))
    base = node.services.settings.fhir_base
    assert ids(client, f"/fhir/Patient?organization={base}/Organization/{org}") == [pid]
    assert ids(client, f"/fhir/Patient?organization=Organization/{org}") == [pid]
    assert ids(client, f"/fhir/Patient?organization={org}") == [pid]
    assert ids(client, f"/fhir/Patient?organization=http://elsewhere.example/fhir/Organization/{org}") == []
    # A resource that names this server's organisation by its absolute URL is found by the relative form too.
    other = post(client, "Patient", patient(managingOrganization={"reference": f"{base}/Organization/{org}"}))
    assert sorted(ids(client, f"/fhir/Patient?organization=Organization/{org}")) == sorted([pid, other])


def ids(client: TestClient, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return [e["resource"]["id"] for e in response.json()["entry"] if e["search"]["mode"] == "match"]

"""The checks every FHIR request passes, after their cost was cut (one dependency, path parameters read from the
request, routes matched most used first): the same answers, in the same order, counted once per request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import orjson
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.responses import Response

from mais_node.api import errors
from mais_node.api.security import CallerDep, fhir_interaction, require_scope
from mais_node.auth.bearer import Caller
from mais_node.auth.ratelimit import RateLimitPolicy
from mais_node.clock import FixedClock
from tests.builders import patient
from tests.unit.auth.support import World, epoch, make_world

FHIR = {"content-type": "application/fhir+json"}
READER = "system/Patient.rs"
OPERATOR = "system/*.cruds"


@pytest.fixture
def node(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[World, TestClient]]:
    world = make_world(tmp_path, clock, rate=RateLimitPolicy(1000, 60))
    world.organisation("LA0001")
    with TestClient(world.app()) as client:
        yield world, client
    world.close()


def bearer(world: World, client: TestClient, scope: str) -> dict[str, str]:
    registered = world.client(scope=scope)
    answer = client.post("/auth/token", data=registered.form(epoch(world.clock), scope=scope))
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_accept_is_checked_before_the_token_and_the_token_before_the_scope(node: tuple[World, TestClient]) -> None:
    world, client = node
    xml = {"Accept": "application/fhir+xml"}
    reader = bearer(world, client, READER)
    assert client.get("/fhir/Patient/abc", headers=xml).status_code == 406
    assert client.get("/fhir/Patient/abc").status_code == 401
    assert client.get("/fhir/Patient/abc", headers=reader | xml).status_code == 406
    assert client.get("/fhir/Patient/abc", headers=reader).status_code == 404
    assert client.put("/fhir/Patient/abc", content=orjson.dumps(patient(id="abc")), headers=FHIR).status_code == 401
    refused = client.put("/fhir/Patient/abc", content=orjson.dumps(patient(id="abc")), headers=FHIR | reader)
    assert refused.status_code == 403
    assert "system/Patient.u" in refused.text


@pytest.mark.parametrize(
    ("method", "path", "letter"),
    [
        ("GET", "/fhir/Patient/abc", "r"),
        ("GET", "/fhir/Patient/abc/_history", "r"),
        ("GET", "/fhir/Patient/abc/_history/1", "r"),
        ("GET", "/fhir/Patient/_history", "r"),
        ("GET", "/fhir/Patient", "s"),
        ("POST", "/fhir/Patient/_search", "s"),
        ("POST", "/fhir/Patient", "c"),
        ("PUT", "/fhir/Patient/abc", "u"),
        ("DELETE", "/fhir/Patient/abc", "d"),
    ],
)
def test_each_interaction_needs_its_own_letter(
    node: tuple[World, TestClient], method: str, path: str, letter: str
) -> None:
    world, client = node
    others = "".join(c for c in "cruds" if c != letter)
    short = bearer(world, client, f"system/Patient.{others}")
    refused = client.request(method, path, headers=FHIR | short, content=b"{}")
    assert refused.status_code == 403, refused.text
    assert f"system/Patient.{letter}" in refused.text
    allowed = client.request(method, path, headers=FHIR | bearer(world, client, f"system/Patient.{letter}"))
    assert allowed.status_code != 403, allowed.text


def test_every_interaction_still_reaches_its_route(node: tuple[World, TestClient]) -> None:
    world, client = node
    operator = bearer(world, client, OPERATOR)
    created = client.post("/fhir/Patient", content=orjson.dumps(patient()), headers=FHIR | operator)
    assert created.status_code == 201
    pid = created.json()["id"]
    assert created.headers["location"].endswith(f"/fhir/Patient/{pid}/_history/1")
    assert client.get(f"/fhir/Patient/{pid}", headers=operator).json()["id"] == pid
    updated = client.put(f"/fhir/Patient/{pid}", content=orjson.dumps(patient(id=pid)), headers=FHIR | operator)
    assert updated.status_code == 200
    assert updated.headers["etag"] == 'W/"2"'
    assert client.get(f"/fhir/Patient/{pid}/_history/1", headers=operator).json()["meta"]["versionId"] == "1"
    assert len(client.get(f"/fhir/Patient/{pid}/_history", headers=operator).json()["entry"]) == 2
    assert len(client.get("/fhir/Patient/_history", headers=operator).json()["entry"]) == 2
    assert len(client.get("/fhir/_history", headers=operator).json()["entry"]) >= 2
    assert client.get(f"/fhir/Patient?_id={pid}", headers=operator).json()["total"] == 1
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/fhir/Patient/_search", content=f"_id={pid}", headers=form | operator).json()["total"] == 1
    assert client.delete(f"/fhir/Patient/{pid}", headers=operator).status_code == 204
    assert client.get(f"/fhir/Patient/{pid}", headers=operator).status_code == 410


def test_paths_no_route_takes_fall_through_to_not_found(node: tuple[World, TestClient]) -> None:
    world, client = node
    operator = bearer(world, client, OPERATOR)
    patched = client.patch("/fhir/Patient/abc/extra", headers=FHIR | operator, content=b"{}")
    assert patched.status_code == 404
    assert "not a resource or operation" in patched.text
    unknown = client.get("/fhir/Shoe/abc", headers=operator)
    assert unknown.status_code == 404
    assert "'Shoe' is not supported" in unknown.text


def test_a_request_is_authenticated_and_counted_once_whatever_asks_for_the_caller(
    node: tuple[World, TestClient],
) -> None:
    world, client = node
    headers = bearer(world, client, OPERATOR)
    checks: list[str | None] = []
    real = world.auth.authenticate

    def counting(authorization: str | None) -> Caller:
        checks.append(authorization)
        return real(authorization)

    world.auth.authenticate = counting  # type: ignore[method-assign]
    app = FastAPI()
    errors.install(app)
    app.state.services = world.services

    async def probe(caller: CallerDep, operator: Annotated[Caller, Depends(require_scope(OPERATOR))]) -> Response:
        return Response(f"{caller.client_id} {caller is operator}")

    app.add_api_route("/fhir/{rtype}/{id}", probe, dependencies=[Depends(fhir_interaction)])
    with TestClient(app) as probing:
        answer = probing.get("/fhir/Patient/abc", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.text.endswith(" True")
        assert len(checks) == 1
        assert probing.get("/fhir/Patient/abc").status_code == 401
        assert len(checks) == 2


def test_metrics_count_every_answer_by_method_route_and_status(node: tuple[World, TestClient]) -> None:
    world, client = node
    reader = bearer(world, client, READER)
    for _ in range(3):
        assert client.get("/fhir/Patient/abc", headers=reader).status_code == 404
    client.get("/fhir/Patient/abc")
    text = client.get("/metrics").text
    route = re.escape("/fhir/{rtype:stored}/{id:fhirid}")
    assert re.search(rf'mais_http_requests_total{{method="GET",route="{route}",status="404"}} 3\.0', text)
    assert re.search(rf'mais_http_requests_total{{method="GET",route="{route}",status="401"}} 1\.0', text)
    assert re.search(rf'mais_http_request_duration_seconds_count{{method="GET",route="{route}"}} 4\.0', text)

"""Issue 13 §12: a method a path does not take is 405 with every method it does take in ``Allow`` (RFC 9110
§15.5.6), never 404 as though the path did not exist, whichever router holds the path."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import World


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/fhir/Patient/$match", {"POST"}),
        ("PATCH", "/fhir/Patient/$person-info-query", {"POST"}),
        ("GET", "/fhir/Patient/$person-info-query", {"POST"}),
        ("PATCH", "/fhir/CodeSystem/$lookup", {"GET", "POST"}),
        ("DELETE", "/fhir/ValueSet/$expand", {"GET", "POST"}),
        ("PATCH", "/fhir/Task/abc/$review", {"POST"}),
        ("PUT", "/fhir/metadata", {"GET"}),
        ("DELETE", "/fhir/metadata", {"GET"}),
        ("PUT", "/audit/checkpoint", {"GET", "POST"}),
        ("OPTIONS", "/audit/checkpoint", {"GET", "POST"}),
        ("PUT", "/auth/token", {"POST"}),
        ("GET", "/fhir/Patient/_search", {"POST"}),
    ],
)
def test_a_method_the_path_does_not_take_is_405_naming_every_method_it_does(
    world: World, method: str, path: str, allowed: set[str]
) -> None:
    answer = world.http.request(method, path, headers=world.headers["operator"])
    assert answer.status_code == 405, answer.text[:300]
    assert allowed <= {m.strip() for m in answer.headers["allow"].split(",")}
    assert {m.strip() for m in answer.headers["allow"].split(",")} <= allowed | {"HEAD"}
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-supported"


def test_an_unknown_path_is_still_404(world: World) -> None:
    answer = world.http.request("PATCH", "/fhir/Nothing/$match", headers=world.headers["operator"])
    assert answer.status_code == 404, answer.text[:300]
    answer = world.http.request("PUT", "/fhir/Patient/not/a/thing", headers=world.headers["operator"])
    assert answer.status_code == 404, answer.text[:300]

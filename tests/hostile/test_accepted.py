"""Odd but valid input is kept exactly: a body of exactly the limit, right-to-left overrides, combining marks, astral
characters, the longest FHIR id. And a request id carrying CR LF is replaced, never echoed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.hostile.bodies import sized_patient
from tests.hostile.conftest import FHIR, World, open_world

ODD_NAMES = [
    "\u202eredrum\u202c",  # right-to-left override: displays reversed
    "Zoe\u0308\u0301\u0301\u0301",  # a stack of combining marks
    "\U0001f600\U0001d54f",  # astral plane: surrogate pairs in UTF-16
    "\u200b\ufeff",  # zero-width space, byte order mark
    "Ωmega \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
]


@pytest.fixture(params=["sqlite", "mongo"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from open_world(request.param, tmp_path)


def test_a_body_of_exactly_the_limit_is_stored_and_one_byte_more_is_not(fresh: World) -> None:
    operator = {**FHIR, **fresh.headers["operator"]}
    limit = fresh.node.services.settings.max_body_bytes
    stored = fresh.http.post("/fhir/Patient", content=sized_patient(limit), headers=operator)
    assert stored.status_code == 201, stored.text[:300]
    assert len(fresh.http.get(f"/fhir/Patient/{stored.json()['id']}", headers=operator).json()["text"]["div"]) > 1000
    before = fresh.snapshot()
    assert fresh.http.post("/fhir/Patient", content=sized_patient(limit + 1), headers=operator).status_code == 413
    assert fresh.snapshot() == before


@pytest.mark.parametrize("family", ODD_NAMES, ids=["rtl-override", "combining", "astral", "zero-width", "scripts"])
def test_odd_unicode_is_kept_exactly_and_found_again(fresh: World, family: str) -> None:
    operator = {**FHIR, **fresh.headers["operator"]}
    body = {"resourceType": "Patient", "name": [{"family": family, "given": ["Amara"]}]}
    created = fresh.http.post("/fhir/Patient", content=orjson.dumps(body), headers=operator)
    assert created.status_code == 201, created.text
    read = fresh.http.get(f"/fhir/Patient/{created.json()['id']}", headers=operator).json()
    assert read["name"][0]["family"] == family
    found = fresh.http.get("/fhir/Patient", params={"family:exact": family}, headers=operator).json()
    assert [e["resource"]["id"] for e in found["entry"] if e["search"]["mode"] == "match"] == [read["id"]]


def test_the_longest_fhir_id_is_accepted_and_one_more_character_is_not(fresh: World) -> None:
    operator = {**FHIR, **fresh.headers["operator"]}
    longest = "a." * 32
    body = {"resourceType": "Patient", "id": longest, "gender": "other"}
    assert fresh.http.put(f"/fhir/Patient/{longest}", content=orjson.dumps(body), headers=operator).status_code == 201
    too_long = longest + "b"
    before = fresh.snapshot()
    refused = fresh.http.put(
        f"/fhir/Patient/{too_long}", content=orjson.dumps({**body, "id": too_long}), headers=operator
    )
    assert refused.status_code in (400, 404)
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert fresh.snapshot() == before


@pytest.mark.parametrize(
    "given",
    ["abc\r\nSet-Cookie: session=stolen", "x" * 129, "id with spaces", "\u00e9t\u00e9", "abc\x00def"],
    ids=["crlf", "too-long", "spaces", "latin-1", "nul"],
)
def test_a_request_id_that_is_not_a_safe_token_is_replaced(fresh: World, given: str) -> None:
    answer = fresh.http.get("/fhir/metadata", headers={"X-Request-Id": given.encode()})
    assert answer.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert "set-cookie" not in answer.headers

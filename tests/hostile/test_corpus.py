"""Every request of the hostile corpus (``corpus/requests.toml``), on both stores: the status it deserves, an
OperationOutcome that names the fault and nothing of the implementation, the store as it was, and the audit record
DESIGN §7 asks for (refused enquiries, refused tokens)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mais_node.audit.verify import verify
from tests.hostile.bodies import foreign_token, make
from tests.hostile.conftest import World

CASES: list[dict[str, Any]] = tomllib.loads((Path(__file__).parent / "corpus" / "requests.toml").read_text())["case"]

# What a refusal must never show: a traceback, a source path, a query, or the name of a library underneath.
LEAKS = (
    "Traceback",
    'File "',
    "/work/",
    "site-packages",
    ".py",
    "sqlite",
    "SELECT ",
    "INSERT ",
    "mongo",
    "orjson",
    "pydantic",
    "starlette",
    "fastapi",
    "cedar",
    "joserfc",
    "authlib",
    "RecursionError",
    "OverflowError",
    "ValueError",
    "KeyError",
    "AttributeError",
    "TypeError",
    "Internal Server Error",
)
MAX_REFUSAL_BYTES = 64 * 1024


def fill(text: str, world: World) -> str:
    return (
        text.replace("{pid}", world.pid)
        .replace("{long}", "a" * 5000)
        .replace("{digits}", "9" * 5000)
        .replace("{many}", ",".join(f"x{i}" for i in range(101)))
    )


def request_of(case: dict[str, Any], world: World) -> tuple[str, str, bytes | None, dict[str, str]]:
    body = make(case["make"]) if "make" in case else fill(case["body"], world).encode() if "body" in case else None
    headers = {k: fill(v, world) for k, v in case.get("headers", {}).items()}
    if body is not None:
        headers["content-type"] = case.get("content_type", "application/fhir+json")
    if "authorization" in case:
        headers["authorization"] = fill(case["authorization"], world).replace("{foreign-token}", foreign_token())
        if headers["authorization"].startswith("ey"):
            headers["authorization"] = "Bearer " + headers["authorization"]
    elif case.get("as", "operator") != "none":
        headers.update(world.headers[case.get("as", "operator")])
    return case.get("method", "GET"), fill(case["path"], world), body, headers


def check_fhir(case: dict[str, Any], answer: Any) -> None:
    document = answer.json()
    if answer.status_code >= 400:
        assert document["resourceType"] == "OperationOutcome"
        assert answer.headers["content-type"].startswith("application/fhir+json")
        assert {i["severity"] for i in document["issue"]} <= {"error", "fatal"}
        told = " ".join(i.get("diagnostics", "") + " " + " ".join(i.get("expression", [])) for i in document["issue"])
        assert case.get("says", "").lower() in told.lower(), told
        assert len(answer.content) < MAX_REFUSAL_BYTES
    else:
        assert document["resourceType"] == "Bundle"
        found = [e for e in document.get("entry", []) if e["search"]["mode"] == "match"]
        assert len(found) == case["matches"]


PARAMS = [pytest.param(c, id=c["id"]) for c in CASES]


@pytest.mark.parametrize("case", PARAMS)
def test_a_hostile_request_is_refused_cleanly_and_changes_nothing(world: World, case: dict[str, Any]) -> None:
    method, path, body, headers = request_of(case, world)
    before = world.snapshot()
    refused_enquiries = world.audit_subtypes().count("enquiry-refused")
    refused_tokens = world.tokens_refused()

    answer = world.http.request(method, path, content=body, headers=headers)

    assert answer.status_code == case["status"], answer.text[:500]
    for leak in LEAKS:
        assert leak not in answer.text, leak
    assert not any(name.lower().startswith("x-injected") for name in answer.headers)
    kind = case.get("kind", "fhir")
    if kind == "fhir":
        check_fhir(case, answer)
    elif kind == "oauth":
        assert answer.json()["error"] in ("invalid_request", "invalid_client", "invalid_grant")
    else:
        assert len(answer.json()) == case["matches"]
    assert world.snapshot() == before
    if case.get("audited") == "enquiry-refused":
        assert world.audit_subtypes().count("enquiry-refused") == refused_enquiries + 1
    if case.get("audited") == "token-refused":
        assert world.tokens_refused() == refused_tokens + 1


def test_the_audit_chain_still_verifies_after_the_corpus(world: World) -> None:
    assert verify(world.node.services.audit.scan()).ok

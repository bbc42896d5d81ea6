"""schemathesis against the node's own OpenAPI, in process, with a real operator token: every operation (the token
endpoint too) is fuzzed; none may answer 500, and every answer must match the schema the node publishes.

The routes read their bodies by hand (FHIR JSON, a form for the token endpoint), so FastAPI's OpenAPI declares no
request bodies and no search parameters: ``fuzzable`` adds them to a copy, or schemathesis would send only empty
bodies. The node's schema itself is what the responses are checked against.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.hostile.conftest import World, open_world

EXAMPLES = 25
EVERY_ROLE = "system/*.cruds mais/admin mais/terminology-manager mais/reviewer mais/enquiry"
FHIR_BODY = {"application/fhir+json": {"schema": {"type": "object"}}}
TOKEN_FORM = {
    "application/x-www-form-urlencoded": {
        "schema": {
            "type": "object",
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials", "password"]},
                "scope": {"type": "string"},
                "client_assertion_type": {"type": "string"},
                "client_assertion": {"type": "string"},
            },
        }
    }
}
SEARCH = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
    for name in ("_count", "_sort", "_cursor", "_include", "_elements", "name", "family", "birthdate", "_id")
]


def fuzzable(document: dict[str, Any]) -> dict[str, Any]:
    """The node's OpenAPI with the request bodies and search parameters its routes read by hand."""
    document = copy.deepcopy(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put") and "requestBody" not in operation:
                content = TOKEN_FORM if path == "/auth/token" else FHIR_BODY
                operation["requestBody"] = {"required": False, "content": content}
            if method == "get" and path in ("/fhir/{rtype}", "/fhir/_history", "/fhir/AuditEvent"):
                operation["parameters"] = [*operation.get("parameters", []), *SEARCH]
    return document


def published(world: World) -> dict[str, Any]:
    document: dict[str, Any] = world.http.app.openapi()  # type: ignore[attr-defined]
    return document


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from open_world("sqlite", Path(tmp_path_factory.mktemp("openapi")))


@pytest.fixture(scope="module")
def node_schema(fuzzed: World) -> Any:
    schema = schemathesis.openapi.from_dict(fuzzable(published(fuzzed)))
    schema.app = fuzzed.http.app
    return schema


def fuzz(operation: Any, mode: GenerationMode, token: str) -> str | None:
    """Run ``EXAMPLES`` generated requests against one operation; the first failing check, shrunk, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if case.path != "/auth/token":
            case.headers = {**(case.headers or {}), "Authorization": token}
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    try:
        run()
    except Unsatisfiable:
        return None  # nothing of this operation can be made invalid (no parameters, or only string ones)
    except Exception as failure:  # every failing check of every operation is collected and reported together
        return f"{operation.label} ({mode.value}): {str(failure)[:800]}"
    return None


def test_no_operation_answers_500_or_off_schema(fuzzed: World, node_schema: Any) -> None:
    token = fuzzed.node.as_(EVERY_ROLE)["Authorization"]
    operations = [result.ok() for result in node_schema.get_all_operations()]
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (failure := fuzz(operation, mode, token)) is not None
    ]
    assert len(operations) >= 35
    assert not failures, "\n\n".join(failures)


def test_the_openapi_document_is_published_and_covers_the_token_endpoint(fuzzed: World) -> None:
    paths = published(fuzzed)["paths"]
    assert "post" in paths["/auth/token"]
    assert {"get", "post"} <= set(paths["/fhir/{rtype}"]) | {"post"}
    assert len([op for ops in paths.values() for op in ops]) >= 35


def test_every_operation_has_its_own_id(fuzzed: World) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        document = fuzzed.http.app.openapi()  # type: ignore[attr-defined]
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))

"""schemathesis against the node's own OpenAPI, in process, with a real operator token: every operation (the token
endpoint too) is fuzzed from the document the node publishes, as it publishes it; none may answer 5xx, and every
answer must have a documented status, a documented media type and the schema documented for it (issue 13 §12).

The fuzzing is bounded for ``make test``: ``EXAMPLES`` examples per operation and mode, derandomised (the same cases
on every run), no example database. The document itself is checked by an independent OpenAPI validator.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hostile.conftest import World, open_world

EXAMPLES = 6
EVERY_ROLE = "system/*.cruds mais/admin mais/terminology-manager mais/reviewer mais/enquiry"
# The POSTs that take no body: an action named by the path alone.
BODILESS = {
    "/audit/checkpoint",
    "/auth/register/organisations/{ods}/{action}",
    "/auth/register/clients/{client_id}/revoke",
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def published(world: World) -> dict[str, Any]:
    """The document as a partner fetches it."""
    answer = world.http.get("/openapi.json")
    assert answer.status_code == 200, answer.text[:300]
    document: dict[str, Any] = answer.json()
    return document


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from open_world("sqlite", Path(tmp_path_factory.mktemp("openapi")))


@pytest.fixture(scope="module")
def node_schema(fuzzed: World) -> Any:
    schema = schemathesis.openapi.from_dict(published(fuzzed))
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
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        return None  # nothing of this operation can be made invalid (no parameters, or only string ones)
    except Exception as failure:  # every failing check of every operation is collected and reported together
        return f"{operation.label} ({mode.value}): {str(failure)[:800]}"
    return None


def test_no_operation_answers_5xx_or_off_its_documented_answers(fuzzed: World, node_schema: Any) -> None:
    token = fuzzed.node.as_(EVERY_ROLE)["Authorization"]
    operations = [result.ok() for result in node_schema.get_all_operations()]
    started = time.monotonic()
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (failure := fuzz(operation, mode, token)) is not None
    ]
    assert len(operations) >= 45
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 90  # bounded for make test (about 30 s on the 2-core build machine)


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


def test_the_published_document_is_valid_openapi(fuzzed: World) -> None:
    validate(published(fuzzed))  # openapi-spec-validator: raises naming the first error


def test_every_operation_declares_its_parameters_bodies_and_answers(fuzzed: World) -> None:
    document = published(fuzzed)
    for path, operations in document["paths"].items():
        in_path = set(re.findall(r"{([^}]+)}", path))
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, where
            responses = operation["responses"]
            assert all(r["description"] != "Successful Response" for r in responses.values()), where
            assert {"400", "404", "406", "413", "429", "503"} <= set(responses), where
            for status, response in responses.items():
                media = set(response.get("content", {}))
                if int(status) >= 400 and path != "/auth/token":
                    assert media == {"application/fhir+json"}, where
                if path.startswith("/fhir/") and "well-known" not in path:
                    assert media <= {"application/fhir+json"}, where
            if method in ("put", "patch", "post") and path not in BODILESS:
                assert "requestBody" in operation, where


def test_the_console_is_not_part_of_the_machine_api(fuzzed: World) -> None:
    assert not [path for path in published(fuzzed)["paths"] if path.startswith("/console")]

"""Issue 13 item 3, in process: when the process is out of file descriptors (what 20,000 slow connections did
before the node bounded them), the caller is answered 503, the node's word for "at a limit", not 500."""

from __future__ import annotations

import errno

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Node


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE])
def test_out_of_file_descriptors_is_503_not_500(node: Node, operator: dict[str, str], code: int) -> None:
    def exhausted(*args: object, **kwargs: object) -> object:
        raise OSError(code, "Too many open files", "/srv/mais/rules/national.cedar")

    node.services.resources.read = exhausted  # type: ignore[method-assign]
    with TestClient(node.http.app, raise_server_exceptions=False) as client:
        response = client.get("/fhir/Patient/abc", headers=operator)
    assert response.status_code == 503
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert "national.cedar" not in response.text
    assert response.headers["retry-after"] == "1"

"""``mais single-view`` (issue 15 item 7): the lines it prints for a view, and its one-line failures."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import typer
from typer.testing import CliRunner

from mais_node.adapters.jose_keys import generate_private_jwk
from mais_node.cli import app
from mais_node.cli_single_view import row_lines
from mais_node.config import DEFAULTS
from tests.processes import free_port

EXAMPLE = DEFAULTS / "profiles" / "examples" / "mais-single-view-valid-in-progress.json"
runner = CliRunner()


def test_one_line_per_partner_with_what_it_released_or_why_not() -> None:
    lines = row_lines(orjson.loads(EXAMPLE.read_bytes()))
    assert list(lines) == ["POL001", "GP0001", "SCH001", "LA0002", "HV0001", "CAM001", "POL002"]
    assert lines["POL001"].split()[:2] == ["POL001", "KNOWN"]
    assert lines["POL001"].endswith("open=true; contact: Safeguarding Hub 0113 000 0000")
    assert lines["GP0001"].split()[1] == "NOT_KNOWN"
    assert "follow https://mais.la0002.example/fhir/Task/7d1e" in lines["LA0002"]
    assert lines["HV0001"].endswith("the partner failed (503)")
    assert lines["POL002"].endswith("organisation POL002 is operationally suspended")


def test_a_node_that_is_not_there_is_one_line_and_exit_1(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_bytes(orjson.dumps(generate_private_jwk("ES384")))
    arguments = ["single-view", "--server", f"http://127.0.0.1:{free_port()}", "--client-id", "x", "--key", str(key)]
    result = runner.invoke(app, [*arguments, "--reason", "s47-enquiry", "--nhs-number", "9991316825"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "127.0.0.1" in result.output
    assert "is the node running" in result.output
    assert "Traceback" not in result.output


def test_a_key_file_that_is_not_a_jwk_is_one_line_and_exit_1(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text("not json")
    result = runner.invoke(
        app,
        ["single-view", "--server", "http://127.0.0.1:9", "--client-id", "x", "--key", str(key), "--reason", "s47"],
    )
    assert result.exit_code == 1
    assert "is not a private JWK file" in result.output


def test_wait_prints_each_row_as_it_changes_and_the_partners_still_pending(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a node that answers 202 with the view, then the view with the referred row decided."""
    from mais_node import cli_single_view
    from mais_node.client import EnquiryClient

    first = orjson.loads(EXAMPLE.read_bytes())
    decided = orjson.loads(EXAMPLE.read_bytes()) | {"status": "completed"}
    for output in decided["output"]:
        if output["valueReference"]["identifier"]["value"] == "LA0002":
            output["type"]["coding"][0]["code"] = "NOT_KNOWN"
    asked: list[tuple[str, str]] = []

    def node(request: httpx.Request) -> httpx.Response:
        asked.append((request.method, request.url.path))
        if request.url.path.endswith("/smart-configuration"):
            return httpx.Response(200, json={"token_endpoint": "http://node.test/auth/token"})
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 300})
        if request.method == "POST":
            assert request.headers["prefer"] == "respond-async"
            return httpx.Response(202, json=first, headers={"content-location": "http://node.test/fhir/Task/v1"})
        assert request.headers["authorization"] == "Bearer t"
        return httpx.Response(200, json=decided)

    monkeypatch.setattr(cli_single_view, "POLL_SECONDS", 0)
    client = EnquiryClient(
        "http://node.test", "x", generate_private_jwk("ES384"), http=httpx.Client(transport=httpx.MockTransport(node))
    )
    cli_single_view._run(client, {"resourceType": "Parameters", "parameter": []}, wait=True, wait_seconds=5)

    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed[:7]] == [
        "POL001",
        "GP0001",
        "SCH001",
        "LA0002",
        "HV0001",
        "CAM001",
        "POL002",
    ]
    assert printed[7].split()[:2] == ["LA0002", "NOT_KNOWN"]  # only the row that changed is printed again
    assert printed[-1] == "view http://node.test/fhir/Task/v1 (complete); pending: none"
    assert ("GET", "/fhir/Task/v1") in asked


def test_a_refused_view_is_one_line_naming_why(capsys: pytest.CaptureFixture[str]) -> None:
    from mais_node import cli_single_view
    from mais_node.client import EnquiryClient

    def node(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/smart-configuration"):
            return httpx.Response(200, json={"token_endpoint": "http://node.test/auth/token"})
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": 300})
        issue = {"severity": "error", "code": "invalid", "diagnostics": "'Leeds' is not an ONS LAD code"}
        return httpx.Response(400, json={"resourceType": "OperationOutcome", "issue": [issue]})

    client = EnquiryClient(
        "http://node.test", "x", generate_private_jwk("ES384"), http=httpx.Client(transport=httpx.MockTransport(node))
    )
    with pytest.raises(typer.Exit) as refused:
        cli_single_view._run(client, {"resourceType": "Parameters", "parameter": []}, wait=False, wait_seconds=5)
    assert refused.value.exit_code == 1
    assert capsys.readouterr().err == "mais single-view: refused (400): 'Leeds' is not an ONS LAD code\n"

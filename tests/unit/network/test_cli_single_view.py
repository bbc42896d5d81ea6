"""``mais single-view`` (issue 15 item 7): the lines it prints for a view, and its one-line failures."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from mais_node.adapters.jose_keys import generate_private_jwk
from mais_node.cli import app
from mais_node.cli_single_view import row_lines
from mais_node.config import DEFAULTS
from tests.e2e.test_crash import free_port

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

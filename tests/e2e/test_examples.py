"""Issue 12 item 20: the sample person file the README imports (docs/examples/people.ndjson) is valid whole, so a
newcomer sees what a good file looks like and `mais person import` accepts it as it stands."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mais_node.cli import app
from mais_node.config import Settings
from mais_node.wiring import build_services

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "people.ndjson"


def test_the_sample_people_file_imports_whole_and_again_without_duplicates(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'node.db'}"
    build_services(Settings(store=store)).close()
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["person", "import", str(SAMPLE), "--store", store])
        assert result.exit_code == 0, result.output
        assert "imported 3 EpisodeOfCare, 6 Patient; rejected 0" in result.output
    services = build_services(Settings(store=store))
    try:
        counts = {
            kind: services.resources.search(kind, [("_summary", "count")]).page.total
            for kind in ("Patient", "EpisodeOfCare")
        }
    finally:
        services.close()
    assert counts == {"Patient": 6, "EpisodeOfCare": 3}

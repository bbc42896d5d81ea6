"""Issue 12 item 11: ``mais init DIR`` writes an editable copy of the national defaults for an organisation to own,
creates the store, and prints the settings that point the node at them; the node then uses that copy."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mais_node.cli import app
from mais_node.config import DEFAULTS

runner = CliRunner()


def exports(line: str) -> dict[str, str]:
    words = shlex.split(line)
    assert words[0] == "export"
    return dict(word.split("=", 1) for word in words[1:])


def test_init_writes_the_defaults_creates_the_store_and_names_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "own", "--store", f"sqlite:///{tmp_path / 'node.db'}"])
    assert result.exit_code == 0, result.output
    own = tmp_path / "own"
    shipped = {p.relative_to(DEFAULTS) for p in DEFAULTS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    copied = {p.relative_to(own) for p in own.rglob("*") if p.is_file()}
    assert shipped <= copied
    assert (tmp_path / "node.db").is_file()
    line = next(line for line in result.output.splitlines() if line.startswith("export "))
    assert (own / "mais.env").read_text().strip() == line
    settings = exports(line)
    assert settings == {
        "MAIS_STORE": f"sqlite:///{tmp_path / 'node.db'}",
        "MAIS_RULES_DIR": str(own / "rules"),
        "MAIS_TERMINOLOGY_DIR": str(own / "terminology"),
        "MAIS_PROFILES_DIR": str(own / "profiles"),
    }
    # The organisation's copy is the one in force: a broken local rule there is what `mais policy check` reports.
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert runner.invoke(app, ["policy", "check"]).exit_code == 0
    (own / "rules" / "local" / "99-ours.cedar").write_text('permit (principal, action == Action::"nope", resource);')
    checked = runner.invoke(app, ["policy", "check"])
    assert checked.exit_code == 1
    assert "nope" in checked.output or "99-ours" in checked.output


def test_init_refuses_a_directory_that_holds_files(tmp_path: Path) -> None:
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["init", str(tmp_path / "own"), "--store", f"sqlite:///{tmp_path / 'node.db'}"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path / 'own'} is not empty: give a new directory for the organisation's own copy"
    ]
    assert (tmp_path / "own" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "node.db").exists()

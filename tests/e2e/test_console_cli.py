"""``mais user add`` in process (typer's runner) on a real SQLite store: accounts for the console's sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mais_node.audit.query import parse_audit_query
from mais_node.cli import app
from mais_node.config import Settings
from mais_node.console.store import open_accounts
from mais_node.wiring import build_services

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A node's store as ``mais serve`` leaves it: the commands refuse one that does not exist."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    build_services(Settings(store=url)).close()
    return url


def mais(*args: str) -> tuple[int, str]:
    """The command with the password, when it names one, piped to ``--password-stdin`` as a script would."""
    words = list(args)
    given = None
    if "--password" in words:
        at = words.index("--password")
        given = words[at + 1]
        words[at : at + 2] = ["--password-stdin"]
    result = runner.invoke(app, words, input=None if given is None else given + "\n")
    return result.exit_code, result.output


def test_an_account_is_added_with_its_role_hashed_and_audited(store: str) -> None:
    code, output = mais(
        "user", "add", "--name", "olu", "--role", "ig-officer", "--password", PASSWORD, "--store", store
    )
    assert code == 0, output
    assert output.startswith("added olu (ig-officer); sign in at http://127.0.0.1:8080/console")
    services = build_services(Settings(store=store))
    try:
        person = open_accounts(services).sign_in("olu", PASSWORD)
        assert person.role == "ig-officer"
        assert person.password_hash.startswith("$argon2id$")
        subtype = "https://mais.example.org/fhir/CodeSystem/audit-event-subtype|account-added"
        assert services.audit.search(parse_audit_query([("subtype", subtype)])).records
    finally:
        services.close()


def test_a_second_factor_prints_the_authenticator_uri(store: str) -> None:
    code, output = mais(
        "user", "add", "--name", "tomi", "--role", "auditor", "--password", PASSWORD, "--totp", "--store", store
    )
    assert code == 0, output
    assert "otpauth://totp/" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "ada", "--role", "boss", "--password", PASSWORD], "--role must be one of ig-officer, auditor"),
        (["--name", "ada", "--role", "auditor", "--password", "short"], "needs at least 12 characters"),
        (["--name", "Ada Smith", "--role", "auditor", "--password", PASSWORD], "--name must be 1-64 lower-case"),
    ],
)
def test_bad_input_is_one_line_saying_what_to_do(store: str, args: list[str], message: str) -> None:
    code, output = mais("user", "add", *args, "--store", store)
    assert code == 1
    assert message in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_a_taken_name_is_refused(store: str) -> None:
    assert mais("user", "add", "--name", "olu", "--role", "auditor", "--password", PASSWORD, "--store", store)[0] == 0
    code, output = mais("user", "add", "--name", "olu", "--role", "admin", "--password", PASSWORD, "--store", store)
    assert code == 1
    assert output.strip() == "error: an account named olu already exists; choose another --name"


def test_the_password_is_asked_for_twice_when_not_piped(store: str) -> None:
    result = runner.invoke(
        app, ["user", "add", "--name", "kemi", "--role", "auditor", "--store", store], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "Password: " in result.output
    assert "Repeat for confirmation: " in result.output
    assert PASSWORD not in result.output


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    code, output = mais(
        "user", "add", "--name", "kemi", "--role", "auditor", "--password", PASSWORD, "--store", f"sqlite:///{missing}"
    )
    assert code == 1
    assert "no store at" in output
    assert not missing.exists()

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
    return f"sqlite:///{tmp_path / 'cli.db'}"


def mais(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
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

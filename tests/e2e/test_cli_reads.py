"""Issue 13 items 7 and 8 at the console: a read-only command changes nothing in the store (not even when the node's
own organisation is missing from its register), and the operator at the node's console may still suspend the node's
own organisation and revoke its systems, which the API refuses."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.audit.actors import Actor
from mais_node.cli import app
from mais_node.config import DEFAULTS, Settings
from mais_node.wiring import build_services, start_sync
from tests.registers import Authority, an_organisation

runner = CliRunner()
SEEDER = Actor(org_ods="NODE01", client_id="tests")


def mais(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def content(path: Path) -> str:
    """A digest of every row of every table: what a write of any kind would change."""
    with sqlite3.connect(path) as conn:
        digest = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    conn.close()
    return digest


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Path]:
    """A store with a partner and a system, whose register has lost the node's own organisation."""
    path = tmp_path / "node.db"
    services = build_services(Settings(store=f"sqlite:///{path}"))
    try:
        services.auth.organisations.add("LA0001", "Leeds", "la-childrens-social-care", actor=SEEDER, verified=True)
        services.auth.clients.add("LA0001", ["mais/enquiry"], actor=SEEDER, jwks=public_jwks(generate_private_jwk()))
        own = services.auth.organisations.require("NODE01")
        assert own.id is not None
        services.resources.delete("Organization", own.id)
    finally:
        services.close()
    return f"sqlite:///{path}", path


READS = [
    ("org", "list"),
    ("client", "list"),
    ("audit", "verify"),
    ("sharing-policy", "list"),
    ("policy", "check"),
]


@pytest.mark.parametrize("command", READS, ids=[" ".join(c) for c in READS])
def test_a_read_only_command_writes_nothing(store: tuple[str, Path], command: tuple[str, ...]) -> None:
    url, path = store
    before = content(path)
    code, output = mais(*command, "--store", url)
    assert code == 0, output
    assert content(path) == before


def test_a_read_only_command_imports_no_national_register(
    store: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a national register configured, a read-only command neither imports it nor records anything about it."""
    url, path = store
    authority = Authority()
    register = tmp_path / "register.json"
    register.write_bytes(orjson.dumps(authority.signed(authority.content(1, [an_organisation("LA0002")]))))
    monkeypatch.setenv("MAIS_REGISTER_URL", str(register))
    monkeypatch.setenv("MAIS_REGISTER_TRUST", str(authority.write_trust(tmp_path)))
    before = content(path)
    for command in READS:
        code, output = mais(*command, "--store", url)
        assert code == 0, output
        assert "LA0002" not in output
    assert content(path) == before
    services = build_services(Settings(store=url), read_only=True)
    try:
        assert services.network is not None
        assert services.network.importer is None
        assert start_sync(services) is None
    finally:
        services.close()


def test_audit_export_writes_nothing_but_its_file(store: tuple[str, Path], tmp_path: Path) -> None:
    url, path = store
    before = content(path)
    code, output = mais("audit", "export", "--out", str(tmp_path / "trail.ndjson"), "--store", url)
    assert code == 0, output
    assert content(path) == before


def test_org_list_shows_the_register_as_it_is(store: tuple[str, Path]) -> None:
    url, _ = store
    code, output = mais("org", "list", "--store", url)
    assert code == 0, output
    assert "LA0001" in output
    assert not any(line.startswith("NODE01\t") for line in output.splitlines())


def test_a_read_only_command_on_a_store_that_does_not_exist_creates_none(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    code, output = mais("audit", "verify", "--store", f"sqlite:///{missing}")
    assert code != 0
    assert "no store" in output
    assert "Traceback" not in output
    assert not missing.exists()


def test_the_operator_at_the_console_may_suspend_the_nodes_own_organisation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    services = build_services(Settings(store=url))
    try:
        own = services.auth.clients.add(
            "NODE01", ["mais/admin"], actor=SEEDER, jwks=public_jwks(generate_private_jwk())
        )
    finally:
        services.close()
    code, output = mais("org", "suspend", "NODE01", "--store", url)
    assert code == 0, output
    assert "operational=suspended" in output
    assert "this node's own organisation" in output  # the operator is told what it does
    code, output = mais("org", "activate", "NODE01", "--store", url)
    assert code == 0, output
    code, output = mais("client", "revoke", own.client_id, "--store", url)
    assert code == 0, output
    assert "revoked" in output


@pytest.mark.parametrize("command", [("policy", "check"), ("policy", "test", str(DEFAULTS / "rules" / "tests"))])
def test_the_rule_commands_refuse_an_absent_store_and_make_none(tmp_path: Path, command: tuple[str, ...]) -> None:
    """An absent store is refused, never read as one holding no agreements (issue 12 item 15), and not created."""
    missing = tmp_path / "none.db"
    code, output = mais(*command, "--store", f"sqlite:///{missing}")
    assert code == 1, output
    assert f"no store at {missing}" in output
    assert not missing.exists()

"""``mais keys``, ``mais org`` and ``mais client`` from the command line, on a SQLite store."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from mais_node.cli_register import client_app, keys_app, org_app, register, register_demo
from mais_node.config import Settings
from mais_node.wiring import build_services

app = typer.Typer()
app.add_typer(keys_app, name="keys")
app.add_typer(org_app, name="org")
app.add_typer(client_app, name="client")
runner = CliRunner()


def new_store(path: Path) -> str:
    """A node's store as ``mais init`` or ``mais serve`` leaves it: the commands refuse one that does not exist."""
    url = f"sqlite:///{path}"
    build_services(Settings(store=url)).close()
    return url


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_generate_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    run("keys", "generate", "--out", str(tmp_path), "--alg", "RS384")
    private = next(tmp_path.glob("private-*.jwk.json"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = orjson.loads((tmp_path / "jwks.json").read_bytes())
    assert public["keys"][0]["kty"] == "RSA"
    assert "d" not in public["keys"][0]
    assert runner.invoke(app, ["keys", "generate", "--out", str(tmp_path), "--alg", "HS256"]).exit_code == 2


def test_an_operator_registers_an_organisation_and_its_system(tmp_path: Path) -> None:
    store = new_store(tmp_path / "cli.db")
    run("keys", "generate", "--out", str(tmp_path / "keys"))
    run(
        "org",
        "add",
        "--ods",
        "LA0001",
        "--name",
        "Leeds",
        "--type",
        "la-childrens-social-care",
        "--verified",
        "--store",
        store,
    )
    client_id = run(
        "client",
        "add",
        "--org",
        "LA0001",
        "--jwks",
        str(tmp_path / "keys" / "jwks.json"),
        "--scope",
        "system/Patient.rs mais/enquiry",
        "--store",
        store,
    ).strip()
    assert client_id in run("client", "list", "--store", store)
    assert "operational=suspended" in run("org", "suspend", "LA0001", "--store", store)
    assert "operational=active" in run("org", "activate", "LA0001", "--store", store)
    assert "verified" in run("org", "verify", "LA0001", "--store", store)
    assert "LA0001" in run("org", "list", "--store", store)
    assert "revoked" in run("client", "revoke", client_id, "--store", store)


def test_a_refusal_is_an_error_message_and_exit_code_1(tmp_path: Path) -> None:
    store = new_store(tmp_path / "cli.db")
    result = runner.invoke(app, ["org", "add", "--ods", "LA0001", "--name", "x", "--type", "bank", "--store", store])
    assert result.exit_code == 1
    assert "organisation-type" in result.output


def test_the_demo_registers_a_requesting_organisation_with_keys(tmp_path: Path) -> None:
    with register(new_store(tmp_path / "demo.db")) as auth:
        client_id, private = register_demo(auth, tmp_path / "demo")
        assert auth.clients.get(client_id) is not None
        assert auth.organisations.require("DEMO01").may_connect
    assert private.exists()
    assert (tmp_path / "demo" / "client_id").read_text().strip() == client_id

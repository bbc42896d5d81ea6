"""``mais authority keys|endpoint|publish`` and ``mais register sync`` from the command line; ``mais org list`` says
where each entry comes from; ``GET /register`` serves the latest serial with ETag, Cache-Control and 304."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mais_node.app import create_app
from mais_node.cli import app
from mais_node.config import Settings

runner = CliRunner()


def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def new_store(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> str:
    """A store made as the README makes one for an authority or a new node: ``mais init``."""
    store = f"sqlite:///{tmp_path / f'{name}.db'}"
    run("init", str(tmp_path / f"{name}-own"), "--store", store, env=env)
    return store


def authority(tmp_path: Path) -> tuple[str, Path, Path, str]:
    """An authority's store with LA0001, its Endpoint and one system; the store, its key, its trust JWKS, the id."""
    store = new_store(tmp_path, "authority")
    run("authority", "keys", "--out", str(tmp_path / "authority"))
    key = next((tmp_path / "authority").glob("private-*.jwk.json"))
    run("keys", "generate", "--out", str(tmp_path / "la"))
    run(
        "org",
        "add",
        "--store",
        store,
        "--ods",
        "LA0001",
        "--name",
        "Leeds",
        "--type",
        "la-childrens-social-care",
        "--verified",
    )
    run("authority", "endpoint", "--store", store, "--org", "LA0001", "--address", "https://la0001.example/fhir")
    jwks = str(tmp_path / "la" / "jwks.json")
    client_id = run(
        "client", "add", "--store", store, "--org", "LA0001", "--jwks", jwks, "--scope", "mais/enquiry"
    ).strip()
    return store, key, tmp_path / "authority" / "jwks.json", client_id


def test_the_authority_publishes_and_a_node_imports_from_the_command_line(tmp_path: Path) -> None:
    store, key, trust, client_id = authority(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    out = tmp_path / "register.json"
    said = run("authority", "publish", "--store", store, "--key", str(key), "--out", str(out), "--valid-for", "7d")
    assert said.startswith("serial 1: 2 organisations, 1 endpoints, 1 systems")
    assert "serial 2" in run("authority", "publish", "--store", store, "--key", str(key), "--out", str(out))

    env = {"MAIS_NODE_ORG": "NODE02"}
    node = new_store(tmp_path, "node", env)
    sync = ("register", "sync", "--store", node, "--url", str(out), "--trust", str(trust))
    assert "applied serial 2" in run(*sync, env=env)
    assert "unchanged: serial 2 is in force" in run(*sync, env=env)
    lines = {line.split("\t")[0]: line for line in run("org", "list", "--store", node, env=env).splitlines()}
    assert lines["LA0001"].endswith("national serial 2")
    assert lines["NODE02"].endswith("local")
    clients = run("client", "list", "--store", node, env=env)
    assert client_id in clients
    assert "national serial 2" in clients

    assert clients.strip().endswith("national serial 2")
    revoked = run("client", "revoke", client_id, "--store", node, env=env)
    assert revoked.strip().endswith("national serial 2, suspended here")
    reinstated = run("client", "reinstate", client_id, "--store", node, env=env)
    assert reinstated.strip().endswith("national serial 2")
    run("org", "suspend", "LA0001", "--store", node, env=env)
    line = next(li for li in run("org", "list", "--store", node, env=env).splitlines() if li.startswith("LA0001"))
    assert line.endswith("national serial 2, suspended here")


def test_a_refused_register_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    store, key, _, _ = authority(tmp_path)
    out = tmp_path / "register.json"
    run("authority", "publish", "--store", store, "--key", str(key), "--out", str(out))
    run("authority", "keys", "--out", str(tmp_path / "other"))
    other = tmp_path / "other" / "jwks.json"
    node = new_store(tmp_path, "node")
    said = run("register", "sync", "--store", node, "--url", str(out), "--trust", str(other), code=1)
    assert len(said.strip().splitlines()) == 1  # one line, no traceback
    assert "is not a trusted key of the authority; no register is in force" in said
    assert "error: no register to import" in run("register", "sync", "--store", node, code=2)
    bad = run("authority", "publish", "--store", store, "--key", str(other), "--out", str(out), code=1)
    assert "is a JWK Set" in bad
    assert "`mais authority keys`" in bad


def test_the_authority_and_sync_commands_refuse_a_store_that_does_not_exist(tmp_path: Path) -> None:
    run("authority", "keys", "--out", str(tmp_path / "keys"))
    key = str(next((tmp_path / "keys").glob("private-*.jwk.json")))
    missing = tmp_path / "missing.db"
    store = f"sqlite:///{missing}"
    for args in (
        ("authority", "endpoint", "--org", "LA0001", "--address", "https://la0001.example/fhir"),
        ("authority", "publish", "--key", key, "--out", str(tmp_path / "register.json")),
        ("register", "sync", "--url", str(tmp_path / "register.json"), "--trust", str(tmp_path / "keys" / "jwks.json")),
    ):
        said = run(*args, "--store", store, code=1)
        assert said.startswith(f"error: no store at {missing}"), said
        assert "mais init DIR" in said
        assert not missing.exists()


def test_get_register_serves_the_latest_serial_with_an_etag_and_answers_304(tmp_path: Path) -> None:
    store, key, _, _ = authority(tmp_path)
    settings = Settings(store=store)
    with TestClient(create_app(settings)) as http:
        nothing = http.get("/register")
        assert nothing.status_code == 404
        assert nothing.json()["resourceType"] == "OperationOutcome"
        run("authority", "publish", "--store", store, "--key", str(key), "--out", str(tmp_path / "r.json"))
        first = http.get("/register")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("application/fhir+json")
        assert "max-age" in first.headers["cache-control"]
        assert orjson.loads(first.content)["identifier"]["value"] == "1"
        etag = first.headers["etag"]
        unchanged = http.get("/register", headers={"If-None-Match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag
        run("authority", "publish", "--store", store, "--key", str(key), "--out", str(tmp_path / "r.json"))
        moved = http.get("/register", headers={"If-None-Match": etag})
        assert moved.status_code == 200
        assert moved.headers["etag"] != etag
        assert orjson.loads(moved.content)["identifier"]["value"] == "2"


def test_serve_with_a_register_but_no_trust_says_so_in_one_line(tmp_path: Path) -> None:
    env = {"MAIS_REGISTER_URL": "https://register.example/register"}
    said = run("serve", "--store", f"sqlite:///{tmp_path / 'n.db'}", code=1, env=env)
    assert said.strip() == "error: MAIS_REGISTER_URL needs MAIS_REGISTER_TRUST (the authority's JWKS file)"
    env = {"MAIS_REGISTER_URL": "http://register.example/register", "MAIS_REGISTER_TRUST": str(tmp_path / "none.json")}
    said = run("serve", "--store", f"sqlite:///{tmp_path / 'n.db'}", code=1, env=env)
    assert said.strip() == "error: MAIS_REGISTER_URL must use https (plain http only to this machine)"

"""deploy/: the MongoDB replica set and the node's image (DESIGN §8 "`deploy/` starts a real MongoDB replica set").

These machines have no Docker engine (only the client), so the files are never started here. The closest honest
check is that they agree with each other and with the node: the members the init script joins are the mongod
services of the compose file, the node's store URL names every one of them with the set's name and reaches the
database its user is granted, the image copies what exists and sets settings the node has.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import uri_parser

from mais_node.config import Settings
from mais_node.storage.mongo import connect

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
COMPOSE = DEPLOY / "mongodb" / "compose.yaml"
INIT = DEPLOY / "mongodb" / "init-replica-set.js"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load(COMPOSE.read_text())
    return dict(compose["services"])


def mongod_args(service: dict[str, Any]) -> list[str]:
    command = service["entrypoint"][-1]
    return shlex.split(command.split("exec docker-entrypoint.sh", 1)[1])


def members(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s for name, s in services.items() if "docker-entrypoint.sh mongod " in " ".join(s.get("entrypoint", []))
    }


def store_url(services: dict[str, Any]) -> str:
    return str(services["node"]["environment"]["MAIS_STORE"]).replace("${MAIS_DB_PASSWORD}", "secret")


def test_three_mongod_members_in_one_replica_set_with_internal_authentication(services: dict[str, Any]) -> None:
    found = members(services)
    assert sorted(found) == ["mongo1", "mongo2", "mongo3"]
    for name, service in found.items():
        args = mongod_args(service)
        assert args[args.index("--replSet") + 1] == "rs0", name
        assert "--keyFile" in args, name
        assert "ports" not in service, f"{name} must not be published outside the compose network"
        assert service["hostname"] == name


def test_the_init_script_joins_exactly_those_members_into_that_set(services: dict[str, Any]) -> None:
    script = INIT.read_text()
    listed = re.search(r"const members = \[(.*?)\];", script)
    assert listed is not None
    assert re.findall(r'"([^"]+)"', listed.group(1)) == [f"{name}:27017" for name in sorted(members(services))]
    assert '_id: "rs0"' in script
    init = services["mongo-init"]
    assert init["network_mode"] == "service:mongo1"  # the localhost exception needs a connection from localhost
    assert set(init["depends_on"]) == set(members(services))


def test_the_node_store_url_names_every_member_the_set_and_the_granted_database(services: dict[str, Any]) -> None:
    url = store_url(services)
    parsed = uri_parser.parse_uri(url)
    assert sorted(f"{host}:{port}" for host, port in parsed["nodelist"]) == [
        f"{name}:27017" for name in sorted(members(services))
    ]
    assert parsed["options"]["replicaSet"] == "rs0"
    assert parsed["username"] == "mais"
    granted = re.search(r'createUser\(\{ user: "mais", .*?db: "(\w+)"', INIT.read_text())
    assert granted is not None
    assert parsed["database"] == granted.group(1) == parsed["options"]["authSource"]
    database = connect(url)  # pymongo connects lazily: nothing is contacted here
    try:
        assert database.name == granted.group(1)
        assert database.write_concern.document == {"w": "majority", "j": True}
    finally:
        database.client.close()


def test_the_image_copies_what_exists_and_sets_only_settings_the_node_has() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    root = DEPLOY.parent
    for line in re.findall(r"^COPY (.+)$", dockerfile, flags=re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            assert (root / source).exists(), source
    fields = set(Settings.model_fields)
    for name, value in re.findall(r"\b(MAIS_[A-Z_]+)=(\S+)", dockerfile):
        field = name.removeprefix("MAIS_").lower()
        assert field in fields, name
        if field.endswith("_dir"):
            copied = value.rstrip("\\").removeprefix("/srv/mais/")
            assert (root / copied).is_dir(), value
    assert 'CMD ["mais", "serve"' in dockerfile


def test_the_operators_secrets_stay_out_of_git() -> None:
    ignored = (DEPLOY / "mongodb" / ".gitignore").read_text().split()
    assert {".env", "keyfile"} <= set(ignored)
    assert not (DEPLOY / "mongodb" / "keyfile").exists()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js not found: the init script's syntax is not checked")
def test_the_init_script_is_valid_javascript(tmp_path: Path) -> None:
    # mongosh runs it as a script body; `node --check` parses it the same way without running it.
    script = tmp_path / "init.js"
    script.write_text(INIT.read_text())
    checked = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr

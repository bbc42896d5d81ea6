"""One node per store (SQLite, and MongoDB through mongomock) for the whole hostile suite: a local authority, one
known person, and the tokens of an operator, an enquirer, a reviewer and an auditor, all real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mongomock
import orjson
import pytest
from fastapi.testclient import TestClient

from mais_node.app import create_app
from mais_node.config import Settings
from mais_node.wiring import build_services
from tests.api.conftest import Node

FHIR = {"content-type": "application/fhir+json"}
NHS = "https://fhir.nhs.uk/Id/nhs-number"
OPERATOR_SCOPE = "system/*.cruds mais/admin mais/terminology-manager"
ROLES = {
    "operator": (OPERATOR_SCOPE, "NODE01"),
    "enquirer": ("mais/enquiry", "LA0001"),
    "reviewer": ("mais/reviewer", "NODE01"),
    "auditor": ("system/AuditEvent.rs", "NODE01"),
}
KNOWN = {
    "resourceType": "Patient",
    "identifier": [{"system": NHS, "value": "9434765919"}],
    "name": [{"use": "official", "family": "Okafor", "given": ["Amara"]}],
    "gender": "female",
    "birthDate": "2015-04-12",
}


@dataclass
class World:
    """A node under attack, and what a test needs to attack it and to look at it afterwards."""

    node: Node
    http: TestClient
    pid: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def snapshot(self) -> Any:
        """The latest page of the whole resource history: any write at all changes it."""
        page = self.http.get("/fhir/_history?_count=200", headers=self.headers["operator"])
        assert page.status_code == 200, page.text
        return page.json()["entry"]

    def audit_subtypes(self) -> list[str]:
        return [c["code"] for r in self.node.services.audit.scan() for c in r.event.get("subtype", [])]

    def tokens_refused(self) -> int:
        return sum(
            1
            for r in self.node.services.audit.scan()
            if r.event["type"].get("code") == "110114" and r.event.get("outcome") == "8"
        )


def settings_for(store: str, tmp_path: Path, **extra: Any) -> tuple[Settings, Any]:
    if store == "sqlite":
        return Settings(store=f"sqlite:///{tmp_path / 'node.db'}", **extra), None
    return Settings(store="mongodb://mongomock/mais", **extra), mongomock.MongoClient().get_database("mais")


def open_world(store: str, tmp_path: Path, **extra: Any) -> Iterator[World]:
    config, database = settings_for(store, tmp_path, rate_limit_requests=100_000, **extra)
    services = build_services(config, mongo_database=database)
    # raise_server_exceptions=False: a 500 must reach the test as the client would see it, not as a traceback.
    with TestClient(create_app(config, services=services), raise_server_exceptions=False) as http:
        node = Node(http, services)
        node.organisation("LA0001")
        headers = {role: node.as_(scope, ods) for role, (scope, ods) in ROLES.items()}
        created = http.post("/fhir/Patient", content=orjson.dumps(KNOWN), headers={**FHIR, **headers["operator"]})
        assert created.status_code == 201, created.text
        services.persons.refresh()
        yield World(node, http, created.json()["id"], headers)
    services.close()


@pytest.fixture(scope="module", params=["sqlite", "mongo"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from open_world(request.param, tmp_path_factory.mktemp(request.param))

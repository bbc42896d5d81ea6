"""Seeding for the benchmarks: the register, clients with keys, and a synthetic person index.

People are written straight into the SQLite store in batches (one transaction per batch, the same stamp,
search-index and person-index rows as the resource service writes, without its per-resource structure validation):
seeding a million people through the API would take hours. Every NHS number is marked verified, as in ``mais demo``, and
one person in ten has an open EpisodeOfCare with the contact team.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.audit.actors import Actor
from mais_node.client import Subject as Who
from mais_node.client import client_assertion, enquiry_parameters
from mais_node.config import Settings
from mais_node.demo import LA, VERIFIED_NHS
from mais_node.fhir.search.dates import render
from mais_node.fhir.search.extract import index_entries
from mais_node.matching import PersonRecord
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.rows import person_entry
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import PERSON_TYPE, Change
from mais_node.storage.sqlite import SqliteResourceStore
from mais_node.wiring import build_services

ACTOR = Actor(org_ods="NODE01", client_id="bench")
TEAM_ID = "bench-team"
S47 = "https://www.legislation.gov.uk/ukpga/1989/41/section/47"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENTS = {
    "la": (LA[0], "mais/enquiry"),
    "operator": ("NODE01", "system/*.cruds"),
    "auditor": ("NODE01", "system/AuditEvent.rs"),
}


@dataclass(frozen=True)
class Client:
    client_id: str
    private: dict[str, Any]
    scope: str


class BenchStore:
    """A node's SQLite file prepared for a benchmark (opened only while no server runs on it)."""

    def __init__(self, path: Path, capacity: int) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.people = 0
        # One millisecond apart, ending before now, so that history and _lastUpdated searches see distinct stamps.
        self.epoch = datetime.now(UTC) - timedelta(milliseconds=2 * capacity + 1000)

    def register(self, *, again: bool = False) -> dict[str, Client]:
        """The requesting local authority, the operator and the auditor, each a client with a fresh key; ``again``:
        the organisation is registered already (a store an earlier run made), only new clients are added."""
        services = build_services(Settings(store=self.url))
        try:
            if not again:
                services.auth.organisations.add(LA[0], LA[1], LA[2], actor=ACTOR, verified=True)
            clients = {}
            for name, (ods, scope) in CLIENTS.items():
                private = generate_private_jwk("ES384")
                client = services.auth.clients.add(ods, scope.split(), actor=ACTOR, jwks=public_jwks(private))
                clients[name] = Client(client.client_id, private, scope)
            services.resources.update("Organization", TEAM_ID, _team())
        finally:
            services.close()
        return clients

    def add_people(self, records: Iterable[PersonRecord], batch: int = 5000) -> float:
        """Write the people (and an open episode for one in ten) in batches; seconds taken."""
        started = time.perf_counter()
        services = build_services(Settings(store=self.url))
        store = services.store
        assert isinstance(store, SqliteResourceStore)
        try:
            for chunk in _chunks(records, batch):
                with store.db.transaction() as conn:
                    for record in chunk:
                        for offset, (rtype, body) in enumerate(_rows(record, self.people)):
                            stamp = render(self.epoch + timedelta(milliseconds=2 * self.people + offset))
                            meta = {"lastUpdated": fhir_instant(stamp)}
                            body["meta"] = meta
                            person = person_entry(body) if rtype == PERSON_TYPE else None
                            change = Change("update", rtype, body["id"], stamp, body, index_entries(body))
                            change = replace(change, person=person)
                            store._write(conn, change)  # the bulk path: many writes, one commit
                        self.people += 1
        finally:
            services.close()
        return time.perf_counter() - started


def _team() -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": TEAM_ID,
        "name": "Children's Social Work Service, Bench Team",
        "telecom": [{"system": "phone", "value": "0113 000 0000"}],
    }


def _rows(record: PersonRecord, number: int) -> Iterator[tuple[str, dict[str, Any]]]:
    patient = to_fhir_patient(record)
    for identifier in patient.get("identifier", []):
        identifier["extension"] = [VERIFIED_NHS]
    yield "Patient", patient
    if number % 10 == 0:
        yield (
            "EpisodeOfCare",
            {
                "resourceType": "EpisodeOfCare",
                "id": f"E{record.id}",
                "status": "active",
                "patient": {"reference": f"Patient/{record.id}"},
                "managingOrganization": {"reference": f"Organization/{TEAM_ID}"},
            },
        )


def _chunks(records: Iterable[PersonRecord], size: int) -> Iterator[list[PersonRecord]]:
    chunk: list[PersonRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def enquiry_body(record: PersonRecord) -> bytes:
    """A ``$person-info-query`` about ``record`` as its requester knows them (s47, all three items)."""
    patient = to_fhir_patient(record)
    nhs = next((i["value"] for i in patient.get("identifier", [])), None)
    name = patient["name"][0]
    who = Who(nhs, name.get("family"), (name.get("given") or [None])[0], patient.get("birthDate"))
    return orjson.dumps(enquiry_parameters(who, S47, ["is-known", "is-open", "contact"], []))


def token_url(base: str) -> str:
    answer = httpx.get(f"{base}/fhir/.well-known/smart-configuration", timeout=30)
    answer.raise_for_status()
    return str(answer.json()["token_endpoint"])


def token_form(client: Client, url: str) -> str:
    """The form a client POSTs to the token endpoint, with a fresh signed assertion (a new ``jti``)."""
    return urlencode(
        {
            "grant_type": "client_credentials",
            "scope": client.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(client.client_id, url, client.private),
        }
    )


def token(base: str, client: Client) -> str:
    """A fresh access token (5 minutes) for ``client`` from the node's token endpoint."""
    url = token_url(base)
    answer = httpx.post(
        url,
        content=token_form(client, url),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"token refused ({answer.status_code}): {answer.text[:300]}")
    return str(answer.json()["access_token"])

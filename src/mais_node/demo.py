"""``mais demo``: a node with everything needed to try an enquiry end to end (issue 5 §9).

Seeds the register (a requesting local authority, a police force, this node's organisation), their systems with
keys under ``var/demo/``, the vocabularies and rules, a sharing policy, and a person index of synthetic people
(test-range NHS numbers, some with an open involvement), then prints ready ``mais enquire`` commands.
"""

from __future__ import annotations

import contextlib
import json
import random
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from mais_node.adapters.jose_keys import write_key_pair
from mais_node.audit.actors import Actor
from mais_node.client import Subject
from mais_node.errors import VersionConflict
from mais_node.fhir.search.parse import encode_cursor
from mais_node.matching.fhir_patient import to_fhir_patient
from mais_node.matching.synthetic import generate_population
from mais_node.policy import MatchGrade

if TYPE_CHECKING:
    from mais_node.wiring import Services

LA = ("LA0001", "Leeds City Council Children's Social Care", "la-childrens-social-care")
POLICE = ("POL001", "West Yorkshire Police", "police")
VERIFIED_NHS = {
    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "valueCodeableConcept": {
        "coding": [
            {"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland", "code": "01"}
        ]
    },
}


@dataclass(frozen=True)
class DemoClient:
    name: str
    client_id: str
    key: Path
    record: Path  # the key file: JSON with client_id and the private key's path (``mais review --key-file``)


def _client(services: Services, directory: Path, name: str, ods: str, scopes: list[str], actor: Actor) -> DemoClient:
    record = directory / f"{name}.json"
    if record.exists():
        saved = json.loads(record.read_text())
        return DemoClient(name, saved["client_id"], Path(saved["key"]), record)
    private, public, _ = write_key_pair(directory / name, replace=True)  # no record of it: a stale half-run
    client = services.auth.clients.add(ods, scopes, actor=actor, jwks=orjson.loads(public.read_bytes()), name=name)
    record.write_text(json.dumps({"client_id": client.client_id, "key": str(private)}))
    return DemoClient(name, client.client_id, private, record)


def seed(services: Services, directory: Path, *, people: int = 10_000, seed_value: int = 2026) -> dict[str, DemoClient]:
    """Put the demo's register, clients, agreement and people in the store (idempotent)."""
    auth = services.auth
    actor = Actor(org_ods=services.settings.node_org, client_id="mais-demo")
    for ods, name, kind in (LA, POLICE):
        with contextlib.suppress(VersionConflict):  # already in the register from an earlier run
            auth.organisations.add(ods, name, kind, actor=actor, verified=True)
    clients = {
        "la": _client(services, directory, "la", LA[0], ["mais/enquiry", "system/Task.crs"], actor),
        "police": _client(services, directory, "police", POLICE[0], ["mais/enquiry"], actor),
        "reviewer": _client(
            services, directory, "reviewer", services.settings.node_org, ["mais/reviewer", "system/Task.crs"], actor
        ),
        "auditor": _client(services, directory, "auditor", services.settings.node_org, ["system/AuditEvent.rs"], actor),
    }
    _agreement(services)
    if services.resources.search("Patient", [("_summary", "count")]).page.total == 0:
        _people(services, people, seed_value)
    return clients


def _agreement(services: Services) -> None:
    from mais_node.enquiry.records import to_contract
    from mais_node.policy import parse_sharing_policy

    path = services.settings.rules_dir.parent / "sharing-policies" / "LA0001-NODE01-2026.json"
    document = orjson.loads(path.read_bytes())
    policy = parse_sharing_policy(document)
    services.resources.update("Contract", policy.identifier, to_contract(document, policy))


def _people(services: Services, count: int, seed_value: int) -> None:
    team = services.resources.create(
        "Organization",
        {
            "resourceType": "Organization",
            "name": "Children's Social Work Service, North Team",
            "telecom": [
                {"system": "phone", "value": "0113 378 9000"},
                {"system": "email", "value": "north.team@example.org"},
            ],
            "address": [{"line": ["Merrion House"], "city": "Leeds", "postalCode": "LS2 8BB"}],
        },
    ).stored.id
    rng = random.Random(seed_value)  # noqa: S311 - synthetic data, not security
    for record in generate_population(count, seed=seed_value):
        patient = to_fhir_patient(record)
        for identifier in patient.get("identifier", []):
            identifier["extension"] = [VERIFIED_NHS]
        person = services.resources.update("Patient", record.id, patient).stored.id
        if rng.random() < 0.3:
            services.resources.create(
                "EpisodeOfCare",
                {
                    "resourceType": "EpisodeOfCare",
                    "status": "active",
                    "patient": {"reference": f"Patient/{person}"},
                    "managingOrganization": {"reference": f"Organization/{team}"},
                    "period": {"start": "2026-09-01"},
                },
            )


def commands(services: Services, clients: dict[str, DemoClient], server: str) -> list[tuple[str, str]]:
    """Three ready ``mais enquire`` commands: one PERMIT, one DENY, one referred for review; then what the
    reviewer's and the auditor's key files are for, one command each."""
    subject = _permit_subject(services)
    la, police = clients["la"], clients["police"]
    base = f"{program()} enquire --server " + server
    as_la = f"{base} --client-id {la.client_id} --key {la.key}"
    family, given = shlex.quote(str(subject.family)), shlex.quote(str(subject.given))
    person = f"--family {family} --given {given} --birth-date {subject.birth_date}"
    nhs = subject.nhs_number
    permit = f"{as_la} --reason s47-enquiry --ask is-known --ask is-open --ask contact --nhs-number {nhs} {person}"
    deny = f"{base} --client-id {police.client_id} --key {police.key} --reason s47-enquiry --nhs-number {nhs}"
    review = f"{as_la} --reason general-safeguarding --ask is-known {person}"
    return [("PERMIT", permit), ("DENY", deny), ("REVIEW", review), *role_commands(clients, server, str(nhs))]


def role_commands(clients: dict[str, DemoClient], server: str, nhs_number: str) -> list[tuple[str, str]]:
    """What the IG officer's and the auditor's key files are for, and one command each that uses them."""
    reviewer, auditor = clients["reviewer"], clients["auditor"]
    review = f"{program()} review list --server {server} --key-file {reviewer.record}"
    token = (
        f"{program()} token --server {server} --client-id {auditor.client_id} --key {auditor.key}"
        " --scope system/AuditEvent.rs"
    )
    audit = f'curl -s -H "Authorization: Bearer $({token})" "{server}/fhir/AuditEvent?patient={nhs_number}&_count=20"'
    return [
        (
            f"{reviewer.record}: the IG officer's system (mais/reviewer): lists the referred enquiries; then "
            "mais review show|decide ID --decision permit|deny --reason '…' (mais enquire --wait follows one)",
            review,
        ),
        (
            f"{auditor.record}: the auditor's system (system/AuditEvent.rs): searches the audit trail, here "
            "everything about the PERMIT example's person",
            audit,
        ),
    ]


def program() -> str:
    """How the person running the demo typed ``mais`` (``.venv/bin/mais`` from a checkout, ``mais`` installed)."""
    typed = sys.argv[0] if sys.argv else ""
    return typed if Path(typed).name == "mais" else "mais"


def _permit_subject(services: Services) -> Subject:
    """The PERMIT example: a person with an open involvement whom the demo's own query matches certainly.

    Certain needs a verified NHS number and an exact date of birth: some synthetic people have an estimated one
    (the accuracy extension), and a query for them grades probable, which the national rules refer for review. The
    candidates are taken in person-id order, so every run of the demo on the same seed picks the same person.
    """
    services.persons.refresh()
    for person_id in sorted(open_people(services)):
        subject = _subject(services.resources.read("Patient", person_id).body)
        if subject is None:
            continue
        match = services.persons.match(subject.patient())
        if match.grade is MatchGrade.CERTAIN and match.person_id == person_id and not match.ambiguous:
            return subject
    raise LookupError("the demo's person index has no one with an open involvement whom a query matches certainly")


def open_people(services: Services) -> set[str]:
    """The ids of everyone with an active EpisodeOfCare, every page of them."""
    people: set[str] = set()
    pairs = [("status", "active"), ("_sort", "_lastUpdated"), ("_count", "200")]
    while True:
        page = services.resources.search("EpisodeOfCare", pairs).page
        people.update(stored.body["patient"]["reference"].removeprefix("Patient/") for stored in page.items)
        if page.next_after is None or not page.items:
            return people
        last = page.items[-1]
        pairs = [*pairs[:3], ("_cursor", encode_cursor((last.last_updated, last.id)))]


def _subject(person: dict[str, Any]) -> Subject | None:
    """What ``mais enquire`` would send for this person, or None when a part of it is missing."""
    nhs = [i["value"] for i in person.get("identifier", []) if i.get("system", "").endswith("nhs-number")]
    names = person.get("name") or [{}]
    given = names[0].get("given") or []
    if not (nhs and names[0].get("family") and given and person.get("birthDate")):
        return None
    return Subject(nhs[0], names[0]["family"], given[0], person["birthDate"])

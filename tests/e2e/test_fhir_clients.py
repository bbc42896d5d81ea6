"""Issue 12 items 5 and 6, done when: a partner's unmodified FHIR client that asks for 500 per page and searches
with ``system|code`` works. fhirpy and fhirclient talk through ``requests``/``aiohttp`` only (no httpx transport),
so they meet a real ``mais serve`` on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.audit.actors import Actor
from mais_node.client import EnquiryClient
from mais_node.config import Settings
from mais_node.wiring import build_services
from tests.builders import NHS, organization, patient
from tests.processes import free_port, stop, wait_ready

pytestmark = pytest.mark.slow

GENDER = "http://hl7.org/fhir/administrative-gender"
MALE, FEMALE = 210, 40


@dataclass
class Served:
    fhir: str
    token: str
    org_id: str


def _seed(store: str) -> tuple[str, dict[str, object], str]:
    services = build_services(Settings(store=store))
    try:
        private = generate_private_jwk("ES384")
        client = services.auth.clients.add(
            "NODE01", ["system/*.cruds"], actor=Actor(org_ods="NODE01", client_id="tests"), jwks=public_jwks(private)
        )
        org_id = services.resources.create("Organization", organization()).stored.id
        for i in range(MALE + FEMALE):
            body = patient(
                gender="male" if i < MALE else "female",
                identifier=[{"system": "https://example.org/local-id", "value": f"L{i:04d}"}],
                managingOrganization={"reference": f"Organization/{org_id}"} if i % 2 == 0 else None,
            )
            services.resources.create("Patient", body)
        return client.client_id, private, org_id
    finally:
        services.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("clients")
    store = f"sqlite:///{workdir / 'node.db'}"
    client_id, private, org_id = _seed(store)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "mais_node", "serve", "--store", store, "--port", str(port)],
        cwd=workdir,
        env={**os.environ, "MAIS_BASE_URL": base},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(port, process)
        with httpx.Client(timeout=30) as http:
            token = EnquiryClient(base, client_id, private, http=http).token("system/*.cruds")
        yield Served(f"{base}/fhir", token, org_id)
    finally:
        stop(process)


def test_fhirpy_counts_pages_by_500_and_searches_by_system_and_code(served: Served) -> None:
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(served.fhir, authorization=f"Bearer {served.token}")
    patients = fhir.resources("Patient")
    assert patients.count() == MALE + FEMALE
    assert patients.search(gender=f"{GENDER}|male").count() == MALE
    assert patients.search(gender="female").count() == FEMALE
    everyone = patients.limit(500).fetch_all()
    assert len(everyone) == MALE + FEMALE
    assert len({p.id for p in everyone}) == MALE + FEMALE
    assert patients.search(organization=f"{served.fhir}/Organization/{served.org_id}").count() == (MALE + FEMALE) // 2


def test_fhirpy_patches_updates_and_deletes_conditionally(served: Served) -> None:
    from fhirpy import SyncFHIRClient

    fhir = SyncFHIRClient(served.fhir, authorization=f"Bearer {served.token}")
    one = fhir.resources("Patient").search(identifier="https://example.org/local-id|L0000")
    patched = one.patch(birthDate="1991-02-03")
    assert patched["birthDate"] == "1991-02-03"
    pid = patched.id
    fetched = fhir.reference("Patient", pid).to_resource()
    assert fetched["birthDate"] == "1991-02-03"
    assert fetched["meta"]["versionId"] == "2"
    created = fhir.resource("Patient", **patient(identifier=[{"system": NHS, "value": "9434765870"}]))
    saved, was_created = fhir.resources("Patient").search(identifier=f"{NHS}|9434765870").update(created)
    assert was_created
    _, again = fhir.resources("Patient").search(identifier=f"{NHS}|9434765870").update(created)
    assert not again
    found, made = fhir.resources("Patient").search(identifier=f"{NHS}|9434765870").get_or_create(created)
    assert (found.id, made) == (saved.id, False)
    fhir.resources("Patient").search(identifier=f"{NHS}|9434765870").delete()
    assert fhir.resources("Patient").search(identifier=f"{NHS}|9434765870").count() == 0
    assert saved.id


def test_fhirclient_searches_by_system_and_code_across_pages(served: Served) -> None:
    from fhirclient import client
    from fhirclient.models.operationoutcome import OperationOutcome
    from fhirclient.models.patient import Patient

    smart = client.FHIRClient(settings={"app_id": "mais-tests", "api_base": served.fhir})
    smart.server.session.headers["Authorization"] = f"Bearer {served.token}"
    search = Patient.where(struct={"gender": f"{GENDER}|male", "_count": "500"})
    resources = list(search.perform_resources_iter(smart.server))
    found = [r for r in resources if isinstance(r, Patient)]
    assert len(found) == MALE
    assert len({p.id for p in found}) == MALE
    assert {p.gender for p in found} == {"male"}
    # The page size held at 200 is said where R4 says it (an outcome entry), which fhirclient hands back too.
    notes = [r for r in resources if isinstance(r, OperationOutcome)]
    assert notes
    assert all("maximum page size" in (n.issue[0].diagnostics or "") for n in notes)
    first = Patient.read(found[-1].id, smart.server)
    assert first.gender == "male"


def test_fhirpy_async_counts_and_fetches_all(served: Served) -> None:
    import asyncio

    from fhirpy import AsyncFHIRClient

    async def run() -> tuple[int, int, int]:
        fhir = AsyncFHIRClient(served.fhir, authorization=f"Bearer {served.token}")
        males = fhir.resources("Patient").search(gender=f"{GENDER}|male")
        return await males.count(), len(await males.limit(500).fetch_all()), await fhir.resources("Patient").count()

    # The other tests change people but leave their number as seeded (the one they create, they delete).
    assert asyncio.run(run()) == (MALE, MALE, MALE + FEMALE)

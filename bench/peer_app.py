"""The Python FHIR peer: ``fhirstarter`` serving an in-memory Patient create and read (issue 7 §1).

Runs in its own virtualenv (bench/.venv-fhirstarter), since fhirstarter pins its own FastAPI and fhir.resources;
its Patient model is fhir.resources' default (R5), validated on the way in and out as fhirstarter does.

    bench/.venv-fhirstarter/bin/python -m uvicorn --app-dir bench peer_app:app --port 8090
"""

from __future__ import annotations

import uuid

from fhir.resources.patient import Patient
from fhirstarter import FHIRProvider, FHIRStarter, InteractionContext
from fhirstarter.exceptions import FHIRResourceNotFoundError

DATABASE: dict[str, str] = {}
SEEDED = 1000

app = FHIRStarter(title="fhirstarter peer")
provider = FHIRProvider()


@provider.read(Patient)
async def patient_read(context: InteractionContext, id_: str) -> Patient:
    stored = DATABASE.get(id_)
    if stored is None:
        raise FHIRResourceNotFoundError
    return Patient.model_validate_json(stored)


@provider.create(Patient)
async def patient_create(context: InteractionContext, resource: Patient) -> str:
    resource.id = str(uuid.uuid4())
    DATABASE[resource.id] = resource.model_dump_json()
    return resource.id


for number in range(SEEDED):
    patient = Patient.model_validate(
        {
            "resourceType": "Patient",
            "id": f"p{number}",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": f"{9000000000 + number}"}],
            "name": [{"use": "official", "family": f"Family{number}", "given": ["Given"]}],
            "gender": "female",
            "birthDate": "2015-04-12",
        }
    )
    DATABASE[f"p{number}"] = patient.model_dump_json()

app.add_providers(provider)

"""Reading FHIR R4 Patient JSON into a PersonRecord, and writing it back."""

from datetime import date
from typing import Any

from mais_node.matching import BIRTH_DATE_ACCURACY, Gender, PersonRecord, from_fhir_patient, to_fhir_patient
from mais_node.matching.fhir_patient import NHS_VERIFICATION, NHS_VERIFICATION_SYSTEM


def patient(**changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "https://example.org/local", "value": "L-1"},
            {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": "9434765919",
                "extension": [
                    {
                        "url": NHS_VERIFICATION,
                        "valueCodeableConcept": {"coding": [{"system": NHS_VERIFICATION_SYSTEM, "code": "01"}]},
                    }
                ],
            },
        ],
        "name": [
            {"use": "official", "family": "Evans", "given": ["Margaret", "Rose"]},
            {"use": "nickname", "given": ["Peggy"]},
            {"use": "maiden", "family": "Hughes"},
            {"use": "old", "family": "Jones"},
        ],
        "gender": "female",
        "birthDate": "1961-04-03",
        "_birthDate": {"extension": [{"url": BIRTH_DATE_ACCURACY, "valueCode": "estimated"}]},
        "address": [{"use": "old", "postalCode": "cf10 1aa"}, {"use": "home", "postalCode": "sw1a1aa"}],
    }
    resource.update(changes)
    return resource


def test_reads_identifiers_names_birth_date_postcode_and_gender() -> None:
    record = from_fhir_patient(patient())
    assert record == PersonRecord(
        id="p1",
        family="Evans",
        given=("Margaret", "Rose"),
        preferred=("Peggy",),
        former_families=("Hughes", "Jones"),
        nhs_number="9434765919",
        nhs_verified=True,
        birth_date=date(1961, 4, 3),
        birth_date_estimated=True,
        postcode="SW1A 1AA",
        gender=Gender.FEMALE,
    )


def test_an_nhs_number_with_a_bad_check_digit_is_dropped() -> None:
    record = from_fhir_patient(
        patient(identifier=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765918"}])
    )
    assert record.nhs_number is None
    assert not record.nhs_verified


def test_an_nhs_number_without_verification_status_is_unverified() -> None:
    record = from_fhir_patient(
        patient(identifier=[{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}])
    )
    assert record.nhs_number == "9434765919"
    assert not record.nhs_verified


def test_accuracy_on_the_patient_and_mais_codes_are_read_too() -> None:
    on_patient = patient(extension=[{"url": BIRTH_DATE_ACCURACY, "valueCode": "E"}])
    del on_patient["_birthDate"]
    assert from_fhir_patient(on_patient).birth_date_estimated
    exact = patient(_birthDate={"extension": [{"url": BIRTH_DATE_ACCURACY, "valueCode": "exact"}]})
    assert not from_fhir_patient(exact).birth_date_estimated


def test_partial_or_missing_fields_give_unknowns() -> None:
    record = from_fhir_patient({"resourceType": "Patient", "birthDate": "1961-04", "gender": "robot"})
    assert record == PersonRecord(id="")
    usual_only = from_fhir_patient({"resourceType": "Patient", "name": [{"use": "usual", "given": ["Bob"]}]})
    assert usual_only.preferred == ("Bob",)
    assert usual_only.given == ()


def test_a_name_without_use_counts_as_official() -> None:
    record = from_fhir_patient({"resourceType": "Patient", "name": [{"family": "Khan", "given": ["Imran"]}]})
    assert (record.family, record.given) == ("Khan", ("Imran",))


def test_written_patients_read_back_unchanged() -> None:
    record = from_fhir_patient(patient())
    assert from_fhir_patient(to_fhir_patient(record)) == record
    bare = PersonRecord(id="x", family="Lee", given=("Amy",))
    written = to_fhir_patient(bare)
    assert "gender" not in written
    assert "identifier" not in written
    assert from_fhir_patient(written) == bare


def test_malformed_entries_are_skipped() -> None:
    record = from_fhir_patient({"resourceType": "Patient", "identifier": ["x"], "address": ["y"], "name": ["z"]})
    assert record == PersonRecord(id="")

"""Behaviour of the profile-driven validator (issue 4, item 5)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mais_node.config import DEFAULTS
from mais_node.errors import InvalidRequest, NotFound
from mais_node.terminology import PURPOSE_SYSTEM, TerminologyService, load_directory
from mais_node.validation import (
    ENQUIRY_PROFILE,
    PERSON_PROFILE,
    ProfileRegistry,
    Validator,
    check_structure,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = DEFAULTS / "profiles" / "examples"
VOCABULARIES = load_directory(DEFAULTS / "terminology")
REGISTRY = ProfileRegistry.from_directory(DEFAULTS / "profiles")


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return loaded


def retiring(code: str, replacement: str) -> TerminologyService:
    """Vocabularies where a new active version of the purposes retires ``code`` in favour of ``replacement``."""
    cs = copy.deepcopy(next(r for r in VOCABULARIES if r.get("url") == PURPOSE_SYSTEM))
    cs["version"] = "0.2.0"
    for concept in cs["concept"]:
        if concept["code"] == code:
            concept["property"][0]["valueCode"] = "retired"
            concept["property"].append({"code": "replaced-by", "valueCode": replacement})
    return TerminologyService([*VOCABULARIES, cs])


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(REGISTRY, TerminologyService(VOCABULARIES))


def test_bad_nhs_check_digit_is_refused_at_its_location(validator: Validator) -> None:
    person = example("mais-person-valid-nhs-number-only")
    person["identifier"][0]["value"] = "9434765918"
    [issue] = validator.validate(person, PERSON_PROFILE)
    assert issue.expression == ("Patient.identifier[0].value",)
    assert issue.code == "invariant"
    assert issue.diagnostics.startswith("mais-nhs-1:")


@pytest.mark.parametrize("nhs_number", ["9434765919", "9990000018", "9990000026", "9990000034", "9990000050"])
def test_valid_test_range_nhs_numbers_pass(validator: Validator, nhs_number: str) -> None:
    person = example("mais-person-valid-nhs-number-only")
    person["identifier"][0]["value"] = nhs_number
    assert validator.validate(person, PERSON_PROFILE) == []


def test_bad_nhs_number_in_the_contained_subject_is_located_inside_the_task(validator: Validator) -> None:
    issues = validator.validate(example("mais-enquiry-invalid-bad-nhs-number"), ENQUIRY_PROFILE)
    assert [i.expression for i in issues] == [("Task.contained[0].identifier[0].value",)]


def test_retired_purpose_is_refused_naming_the_replacement() -> None:
    validator = Validator(REGISTRY, retiring("already-open", "general-safeguarding"))
    task = example("mais-enquiry-valid-nhs-number")
    task["reasonCode"]["coding"][0]["code"] = "already-open"
    [issue] = validator.validate(task)
    assert issue.expression == ("Task.reasonCode",)
    assert issue.code == "code-invalid"
    assert "code 'already-open' is retired; use 'general-safeguarding'" in issue.diagnostics


def test_every_issue_of_a_doubly_broken_task_is_listed(validator: Validator) -> None:
    task = example("mais-enquiry-valid-demographics")
    del task["for"]
    task["reasonCode"]["coding"][0]["code"] = "curiosity"
    task["input"].append({"type": {"text": "other"}, "valueString": "and their friends?"})
    issues = validator.validate(task, ENQUIRY_PROFILE)
    where = {(i.code, i.expression[0]) for i in issues}
    assert ("required", "Task.for") in where
    assert ("code-invalid", "Task.reasonCode") in where
    assert ("structure", "Task.input[1]") in where
    assert len(issues) == 3


def test_meta_profile_is_used_when_no_profile_is_named(validator: Validator) -> None:
    person = example("mais-person-invalid-check-digit")
    assert [i.code for i in validator.validate(person)] == ["invariant"]


def test_without_a_profile_the_one_declared_for_the_type_is_used(validator: Validator) -> None:
    """Issue 12 item 7: a Patient with a bad check digit and no meta.profile does not "conform"."""
    person = example("mais-person-invalid-check-digit")
    del person["meta"]
    assert [i.code for i in validator.validate(person)] == ["invariant"]
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "y"}]}
    (told,) = validator.validate(parameters)
    assert told.severity == "information"
    assert "name one of" in told.diagnostics


def test_unknown_profiles(validator: Validator) -> None:
    person = example("mais-person-valid-full")
    person["meta"]["profile"] = ["https://example.org/StructureDefinition/other"]
    [warning] = validator.validate(person)
    assert warning.severity == "warning"
    with pytest.raises(NotFound):
        validator.validate(person, "https://example.org/StructureDefinition/other")


def test_a_resource_of_another_type_does_not_conform(validator: Validator) -> None:
    [issue] = validator.validate(example("mais-person-valid-full"), ENQUIRY_PROFILE)
    assert "a Patient cannot conform" in issue.diagnostics


def test_reference_checks(validator: Validator) -> None:
    task = example("mais-enquiry-valid-nhs-number")
    task["requester"] = {"reference": "#nobody"}
    task["for"] = {"reference": "Patient/1"}
    task["contained"][1]["practitioner"] = {"reference": "Practitioner/1"}
    issues = validator.validate(task, ENQUIRY_PROFILE)
    messages = {i.expression[0]: i.diagnostics for i in issues}
    assert messages["Task.requester.reference"] == "reference #nobody names no contained resource"
    assert messages["Task"].startswith("mais-enq-1")
    task["requester"] = {"reference": "Organization/X26"}
    diagnostics = [i.diagnostics for i in validator.validate(task, ENQUIRY_PROFILE)]
    assert "reference Organization/X26 is not to a PractitionerRole" in diagnostics


def test_choice_type_outside_the_profile_is_refused(validator: Validator) -> None:
    task = example("mais-enquiry-valid-general-safeguarding-with-policy")
    task["input"][-1].pop("valueIdentifier")
    task["input"][-1]["valueString"] = "dsa-leeds-2025"
    [issue] = validator.validate(task, ENQUIRY_PROFILE)
    assert issue.expression == ("Task.input[3].valueString",)
    assert "string is not allowed here" in issue.diagnostics


def test_structure_errors_are_located(validator: Validator) -> None:
    task = example("mais-enquiry-valid-nhs-number")
    task["contained"][0]["birthDate"] = "2014-13-40"
    task["extra"] = True
    where = {i.expression[0]: i.code for i in validator.validate(task, ENQUIRY_PROFILE)}
    assert where == {"Task.contained[0].birthDate": "value", "Task.extra": "structure"}
    assert check_structure({"resourceType": "Nope"})[0].code == "not-supported"
    assert check_structure({})[0].expression == ("resourceType",)


def test_structure_check_can_be_left_to_the_caller() -> None:
    task = example("mais-enquiry-valid-nhs-number")
    task["extra"] = True
    assert Validator(REGISTRY, TerminologyService(VOCABULARIES), structure=False).validate(task) == []


def test_profiles_are_compiled_once() -> None:
    assert REGISTRY.plan(ENQUIRY_PROFILE) is REGISTRY.plan(ENQUIRY_PROFILE)
    assert REGISTRY.profiles_for("Patient") == (PERSON_PROFILE,)
    assert REGISTRY.definition(PERSON_PROFILE)["derivation"] == "constraint"
    with pytest.raises(NotFound):
        REGISTRY.plan("https://example.org/none")


def test_derived_profile_inherits_its_base_rules(validator: Validator) -> None:
    child = {
        "resourceType": "StructureDefinition",
        "url": "https://example.org/StructureDefinition/strict-person",
        "type": "Patient",
        "baseDefinition": PERSON_PROFILE,
        "differential": {"element": [{"id": "Patient.gender", "path": "Patient.gender", "min": 1}]},
    }
    registry = ProfileRegistry([*(REGISTRY.definition(u) for u in REGISTRY.urls()), child])
    strict = Validator(registry, TerminologyService(VOCABULARIES))
    person = example("mais-person-invalid-check-digit")
    codes = sorted(i.code for i in strict.validate(person, child["url"]))
    assert codes == ["invariant", "required"]


def test_registry_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "StructureDefinition-x.json").write_text("{")
    with pytest.raises(InvalidRequest, match="is not JSON"):
        ProfileRegistry.from_directory(tmp_path)


@pytest.mark.parametrize(("kind", "shown"), [("Patien", "Patien"), (["Patient"], "['Patient']"), (None, "None")])
def test_a_contained_subject_of_no_known_type_is_reported_not_raised(
    validator: Validator, kind: Any, shown: str
) -> None:
    task = example("mais-enquiry-valid-nhs-number")
    task["contained"][0]["resourceType"] = kind
    issues = {i.expression[0]: i for i in validator.validate(task, ENQUIRY_PROFILE)}
    assert issues["Task.contained[0].resourceType"].code == ("not-supported" if kind == "Patien" else "required")
    assert issues["Task.for.reference"].diagnostics == f"reference #subject is to a {shown}, not a Patient"

"""Issue 12 item 7 and 17: every code a required binding of R4 or of a profile governs is checked on create, update
and $validate; $validate with no profile uses the type's declared profile; an enquiry refused for its body lists every
issue at once, as $validate does; the messages say what to write instead."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.api.conftest import Node
from tests.api.test_enquiry import S47, parameters, subject
from tests.builders import NHS, episode, organization, patient

FHIR = {"content-type": "application/fhir+json"}


def _post(node: Node, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return node.http.post(path, content=orjson.dumps(body), headers={**headers, **FHIR})


def _diagnostics(answer: Any) -> list[tuple[str, str]]:
    return [(i["diagnostics"], i.get("expression", [""])[0]) for i in answer.json()["issue"]]


@pytest.mark.parametrize(
    ("rtype", "body", "where"),
    [
        ("Patient", patient(gender="not-a-gender"), "Patient.gender"),
        ("Patient", patient(name=[{"use": "offical", "family": "Smith"}]), "Patient.name[0].use"),
        ("EpisodeOfCare", episode("p1", status="open"), "EpisodeOfCare.status"),
        ("Organization", organization(telecom=[{"system": "phone-number"}]), "Organization.telecom[0].system"),
        ("Endpoint", {"resourceType": "Endpoint", "status": "on", "connectionType": {"code": "hl7-fhir-rest"},
                      "payloadType": [{"text": "any"}], "address": "https://x.example/fhir"}, "Endpoint.status"),
    ],
)  # fmt: skip
def test_create_refuses_a_code_outside_a_required_binding(
    node: Node, operator: dict[str, str], rtype: str, body: dict[str, Any], where: str
) -> None:
    before = node.http.get(f"/fhir/{rtype}", headers=operator).json().get("total", 0)
    answer = _post(node, f"/fhir/{rtype}", body, operator)
    assert answer.status_code == 400, answer.text
    (issue,) = answer.json()["issue"]
    assert issue["code"] == "code-invalid"
    assert issue["expression"] == [where]
    assert "required binding" in issue["diagnostics"]
    assert node.http.get(f"/fhir/{rtype}", headers=operator).json().get("total", 0) == before


def test_the_refusal_names_the_allowed_codes_and_the_nearest(node: Node, operator: dict[str, str]) -> None:
    answer = _post(node, "/fhir/Patient", patient(gender="femail"), operator)
    message = answer.json()["issue"][0]["diagnostics"]
    assert "did you mean 'female'?" in message
    assert "one of female, male, other, unknown" in message


def test_update_refuses_a_bad_code_in_a_contained_resource_and_an_extension_value(
    node: Node, operator: dict[str, str]
) -> None:
    body = patient(
        id="p1",
        contained=[{"resourceType": "Organization", "id": "gp", "telecom": [{"system": "fax", "use": "office"}]}],
        extension=[{"url": "https://example.org/x", "valueAddress": {"use": "hom", "city": "Leeds"}}],
    )
    answer = node.http.put("/fhir/Patient/p1", content=orjson.dumps(body), headers={**operator, **FHIR})
    assert answer.status_code == 400
    assert {where for _, where in _diagnostics(answer)} == {
        "Patient.contained[0].telecom[0].use",
        "Patient.extension[0].valueAddress.use",
    }


def test_task_status_and_intent_are_checked_on_update(node: Node, operator: dict[str, str]) -> None:
    task = {"resourceType": "Task", "id": "t1", "status": "done", "intent": "orders"}
    answer = node.http.put("/fhir/Task/t1", content=orjson.dumps(task), headers={**operator, **FHIR})
    assert answer.status_code == 400
    assert {where for _, where in _diagnostics(answer)} == {"Task.status", "Task.intent"}


def test_validate_reports_a_bad_gender(node: Node, operator: dict[str, str]) -> None:
    answer = _post(node, "/fhir/Patient/$validate", patient(gender="not-a-gender"), operator)
    assert answer.status_code == 200
    assert [where for _, where in _diagnostics(answer)] == ["Patient.gender"]


def test_validate_without_a_profile_uses_the_one_declared_for_the_type(node: Node, operator: dict[str, str]) -> None:
    bad = patient(identifier=[{"system": NHS, "value": "9434765918"}])
    declared = node.http.get("/fhir/metadata").json()["rest"][0]["resource"]
    (patient_entry,) = [r for r in declared if r["type"] == "Patient"]
    answer = _post(node, "/fhir/Patient/$validate", bad, operator)
    messages = [m for m, _ in _diagnostics(answer)]
    assert any(m.startswith("mais-nhs-1") for m in messages), messages
    assert patient_entry["supportedProfile"] == ["https://mais.example.org/fhir/StructureDefinition/mais-person"]
    good = _post(node, "/fhir/Patient/$validate", patient(), operator)
    assert [i["severity"] for i in good.json()["issue"]] == ["information"]


def test_a_refused_enquiry_lists_every_issue_validate_lists(node: Node) -> None:
    node.organisation("LA0001")
    who = subject("9434765918", gender="not-a-gender", birthDate="1990-13-01")
    body = parameters({"name": "colour", "valueString": "blue"}, who=who)
    enquirer = node.as_("mais/enquiry", "LA0001")
    refused = _post(node, "/fhir/Patient/$person-info-query", body, enquirer)
    assert refused.status_code == 422, refused.text
    validated = _post(
        node,
        "/fhir/Patient/$validate?profile=https://mais.example.org/fhir/StructureDefinition/mais-person",
        who,
        node.as_("system/Patient.rs"),
    )
    subject_issues = {m for m, _ in _diagnostics(validated)}
    assert len(subject_issues) == 3, subject_issues
    refused_issues = {m for m, _ in _diagnostics(refused)}
    assert subject_issues <= refused_issues
    assert any("Unknown parameter 'colour'" in m for m in refused_issues)


def test_an_enquiry_about_a_subject_with_a_bad_code_is_refused_naming_it(node: Node) -> None:
    node.organisation("LA0001")
    body = parameters(who=subject(gender="not-a-gender"), reason={"name": "reason", "valueUri": S47})
    answer = _post(node, "/fhir/Patient/$person-info-query", body, node.as_("mais/enquiry", "LA0001"))
    assert answer.status_code == 422
    assert any("administrative-gender" in m for m, _ in _diagnostics(answer))

"""The three use cases of issue 18 answered end to end over HTTP, with the shipped vocabularies, rules and example
agreements: an adult safeguarding enquiry (Care Act 2014 s42) PERMITTED on the adult's consent, a child in need
assessment (Children Act 1989 s17) REFERRED on consent without an agreement, and the state question
``is-subject-of-plan`` answered from an EpisodeOfCare typed as a child protection plan (docs/use-cases.md)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.audit.verify import verify
from mais_node.config import DEFAULTS
from mais_node.enquiry.records import to_contract
from mais_node.policy import read_sharing_policy
from tests.api.conftest import Node
from tests.api.test_enquiry import FHIR, KNOWN, PURPOSE, ask, enquire, parameters, person, subject, values

S42 = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "s42-adult-safeguarding"}}
S17 = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "s17-child-in-need"}}
S46 = {"name": "reason", "valueUri": "https://www.legislation.gov.uk/ukpga/1989/41/section/46"}
PLAN_TYPE = "https://mais.example.org/fhir/CodeSystem/subject-of-plan-type"
ADULT = {"nhs": "9434766001", "family": "Hughes", "given": "Margaret", "birthDate": "1958-07-21", "postcode": "LS7 3QB"}
UNPLANNED = {
    "nhs": "9434766028",
    "family": "Pereira",
    "given": "Tomas",
    "birthDate": "2016-09-30",
    "postcode": "LS9 8AA",
}
MANAGER = "system/CodeSystem.rus system/ValueSet.rus mais/terminology-manager"


def consent(code: str) -> dict[str, Any]:
    return {"name": "consent", "valueCode": code}


def about(who: dict[str, str]) -> dict[str, Any]:
    return subject(
        who["nhs"],
        name=[{"use": "official", "family": who["family"], "given": [who["given"]]}],
        birthDate=who["birthDate"],
    )


def post(node: Node, kind: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    answer = node.http.post(f"/fhir/{kind}", content=orjson.dumps(body), headers={**FHIR, **headers})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def episode(person_id: str, team: str, plan: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "patient": {"reference": f"Patient/{person_id}"},
        "managingOrganization": {"reference": f"Organization/{team}"},
    }
    if plan:
        body["type"] = [{"coding": [{"system": PLAN_TYPE, "code": plan}]}]
    return body


@pytest.fixture
def partners(node: Node) -> Node:
    """Children's (LA0001) and adults' (LA0002) social care, a police force (POL001); an adult open to the adults'
    team, a child on a child protection plan (KNOWN) and a child open to the node with no plan."""
    node.organisation("LA0001")
    node.organisation("LA0002", "la-adults-social-care")
    node.organisation("POL001", "police")
    admin = node.as_("system/*.cruds mais/admin")
    team = post(
        node,
        "Organization",
        {
            "resourceType": "Organization",
            "name": "Adults Team",
            "telecom": [{"system": "phone", "value": "0113 222 0000"}],
        },
        admin,
    )
    for who, plan in ((ADULT, None), (KNOWN, "child-protection-plan"), (UNPLANNED, None)):
        pid = post(node, "Patient", person(*who.values()), admin)
        post(node, "EpisodeOfCare", episode(pid, team, plan), admin)
    node.services.persons.refresh()
    return node


def decisions(answer: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    found = {}
    for parameter in answer["parameter"]:
        if parameter["name"] == "decision":
            parts = parameter["part"]
            item = next(p["valueCode"] for p in parts if p["name"] == "item")
            outcome = next(p["valueCode"] for p in parts if p["name"] == "outcome")
            found[item] = (outcome, [p["valueString"] for p in parts if p["name"] == "rule"])
    return found


def consent_audited(node: Node) -> list[str]:
    """The consent element written on each decision record, in order."""
    return [
        detail["valueString"]
        for record in node.services.audit.scan()
        if "decision" in [c["code"] for c in record.event.get("subtype", [])]
        for detail in record.event["entity"][0].get("detail", [])
        if detail["type"] == "consent"
    ]


def hold(node: Node, name: str) -> None:
    """The node holds one of the package's example agreements (as `mais sharing-policy add` does)."""
    path = DEFAULTS / "sharing-policies" / f"{name}.json"
    policy = read_sharing_policy(path)
    node.services.resources.create("Contract", to_contract(orjson.loads(path.read_bytes()), policy))
    node.services.rules.refresh(force=True)


# -- 1. adult safeguarding (Care Act 2014 s42) --------------------------------------------------------------------


def test_an_adult_safeguarding_enquiry_with_consent_given_is_permitted_and_its_consent_audited(partners: Node) -> None:
    body = parameters(*ask("is-known", "is-open", "contact"), consent("given"), reason=S42, who=about(ADULT))

    answer = enquire(partners, body, ods="LA0002")

    assert answer.status_code == 200, answer.text
    got = values(answer.json())
    assert (got["match"]["valueBoolean"], got["open"]["valueBoolean"]) == (True, True)
    assert got["contact"]["resource"]["telecom"][0]["value"] == "0113 222 0000"
    assert decisions(answer.json()) == {
        "is-known": ("permit", ["national:s42:adult-safeguarding"]),
        "is-open": ("permit", ["national:s42:adult-safeguarding"]),
        "contact": ("permit", ["national:s42:contact-with-consent"]),
    }
    assert consent_audited(partners) == ["given"] * 3  # one decision record per item
    assert verify(partners.services.audit.scan()).ok


def test_an_adult_safeguarding_enquiry_not_sought_for_risk_refers_only_the_contact(partners: Node) -> None:
    body = parameters(*ask("is-known", "contact"), consent("not-sought-risk"), reason=S42, who=about(ADULT))

    answer = enquire(partners, body, ods="LA0002")

    assert answer.status_code == 202, answer.text
    task = answer.json()
    outputs = {o["type"]["coding"][0]["code"]: o["valueCodeableConcept"]["coding"][0]["code"] for o in task["output"]}
    assert outputs == {"is-known": "permit", "contact": "review"}
    stored = [i for i in task["input"] if i["type"]["coding"][0]["code"] == "consent"]
    assert stored[0]["valueCodeableConcept"]["coding"][0]["code"] == "not-sought-risk"


def test_an_adult_safeguarding_enquiry_without_the_consent_element_is_denied_revealing_nothing(
    partners: Node,
) -> None:
    answer = enquire(partners, parameters(*ask("is-known"), reason=S42, who=about(ADULT)), ods="LA0002")

    assert answer.status_code == 403, answer.text
    assert "match" not in answer.text
    assert consent_audited(partners) == ["not-stated"]


def test_a_consent_code_outside_the_vocabulary_is_refused_naming_the_consent(partners: Node) -> None:
    answer = enquire(partners, parameters(consent("implied"), reason=S42, who=about(ADULT)), ods="LA0002")

    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert "implied" in issue["diagnostics"]
    assert issue["expression"] == ["consent"]


# -- 2. child in need (Children Act 1989 s17) ------------------------------------------------------------------------


def test_a_child_in_need_enquiry_with_consent_and_no_agreement_is_referred_and_released_on_review(
    partners: Node,
) -> None:
    body = parameters(*ask("is-known", "is-open"), consent("given"), reason=S17)

    referred = enquire(partners, body)

    assert referred.status_code == 202, referred.text
    task = referred.json()
    assert task["businessStatus"]["coding"][0]["code"] == "review"
    review = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "decision", "valueCode": "permit"},
            {"name": "reason", "valueString": "parental consent on file; assessment open"},
        ],
    }
    decided = partners.http.post(
        f"/fhir/Task/{task['id']}/$review",
        content=orjson.dumps(review),
        headers={**FHIR, **partners.as_("mais/reviewer")},
    )
    assert decided.status_code == 200, decided.text
    assert [o.get("valueBoolean") for o in decided.json()["output"]] == [True, True]
    assert consent_audited(partners) == ["given"] * 2


def test_a_child_in_need_enquiry_under_its_agreement_is_permitted_and_without_consent_denied(partners: Node) -> None:
    hold(partners, "LA0001-NODE01-CIN-2026")
    claim = {"name": "sharingPolicy", "valueString": "LA0001-NODE01-CIN-2026"}

    permitted = enquire(partners, parameters(*ask("is-known", "is-open"), claim, consent("given"), reason=S17))
    denied = enquire(partners, parameters(*ask("is-known"), claim, consent("refused"), reason=S17))

    assert permitted.status_code == 200, permitted.text
    assert decisions(permitted.json())["is-known"] == (
        "permit",
        ["dsa:LA0001-NODE01-CIN-2026:v1:clause:permitted-use-1"],
    )
    assert denied.status_code == 403, denied.text


# -- 3. the state question: is-subject-of-plan --------------------------------------------------------------------


def test_the_state_question_is_answered_for_s47_from_the_episode_type(partners: Node) -> None:
    on_plan = enquire(partners, parameters(*ask("is-subject-of-plan")))
    no_plan = enquire(partners, parameters(*ask("is-subject-of-plan"), who=about(UNPLANNED)))

    assert on_plan.status_code == 200, on_plan.text
    assert values(on_plan.json())["subjectOfPlan"]["valueBoolean"] is True
    assert decisions(on_plan.json()) == {"is-subject-of-plan": ("permit", ["national:state:s47:subject-of-plan"])}
    assert no_plan.status_code == 200, no_plan.text
    assert values(no_plan.json())["subjectOfPlan"]["valueBoolean"] is False
    assert "open" not in values(on_plan.json())


def test_the_state_question_in_the_task_form_is_answered_in_place(partners: Node) -> None:
    example = DEFAULTS / "profiles/examples/mais-enquiry-valid-is-subject-of-plan-s47.json"
    task = orjson.loads(Path(example).read_bytes())
    task["contained"][0] = {**about(KNOWN), "id": "subject"}
    task["contained"][1]["organization"]["identifier"]["value"] = "LA0001"

    answer = partners.http.post(
        "/fhir/Task", content=orjson.dumps(task), headers={**FHIR, **partners.as_("system/Task.crs", "LA0001")}
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "completed"
    assert answer.json()["output"][0]["valueBoolean"] is True


def test_police_protection_is_refused_while_draft_and_answered_once_a_terminology_manager_activates_it(
    partners: Node,
) -> None:
    body = parameters(*ask("is-subject-of-plan"), reason=S46)
    draft = enquire(partners, body, ods="POL001")
    assert draft.status_code == 422, draft.text
    assert "draft" in draft.json()["issue"][0]["diagnostics"]

    manager = partners.as_(MANAGER)
    found = partners.http.get("/fhir/CodeSystem", params={"url": PURPOSE}, headers=manager).json()
    stored = partners.http.get(f"/fhir/CodeSystem/{found['entry'][0]['resource']['id']}", headers=manager)
    active = copy.deepcopy(stored.json())
    active.pop("meta", None)
    active["version"] = "0.3.0"
    concept = next(c for c in active["concept"] if c["code"] == "s46-police-protection")
    next(p for p in concept["property"] if p["code"] == "status")["valueCode"] = "active"
    put = partners.http.put(
        f"/fhir/CodeSystem/{active['id']}",
        content=orjson.dumps(active),
        headers={**FHIR, **manager, "If-Match": stored.headers["etag"]},
    )
    assert put.status_code == 200, put.text

    answered = enquire(partners, body, ods="POL001")
    assert answered.status_code == 200, answered.text
    assert values(answered.json())["subjectOfPlan"]["valueBoolean"] is True
    assert decisions(answered.json()) == {"is-subject-of-plan": ("permit", ["national:state:s46:police-protection"])}
    # the police learn the state only: their is-known under s46 is denied
    assert enquire(partners, parameters(*ask("is-known"), reason=S46), ods="POL001").status_code == 403


def test_a_state_answer_does_not_reveal_whether_the_person_is_known_when_is_known_was_not_permitted(
    partners: Node,
) -> None:
    """The health visitor's agreement grants the state question only: "no plan" must read the same for a child the
    node knows and for one it does not, and the disclosure record must not claim is-known was released."""
    partners.organisation("HV0001", "health-visiting")
    hold(partners, "HV0001-NODE01-STATE-2026")
    reason = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
    claim = {"name": "sharingPolicy", "valueString": "HV0001-NODE01-STATE-2026"}
    stranger = subject("9434765927", name=[{"family": "Nobody", "given": ["Zed"]}], birthDate="2019-01-01")

    answers = [
        enquire(partners, parameters(*ask("is-subject-of-plan"), claim, reason=reason, who=who), ods="HV0001")
        for who in (about(UNPLANNED), stranger)
    ]

    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    known, unknown = (values(a.json()) for a in answers)
    assert known == {**unknown, "requestId": known["requestId"]}
    assert "match" not in known
    assert known["subjectOfPlan"]["valueBoolean"] is False
    released = [
        detail["valueString"]
        for record in partners.services.audit.scan()
        for entity in record.event.get("entity", [])
        for detail in entity.get("detail", [])
        if detail["type"] == "released"
    ]
    assert "is-known" not in " ".join(released)

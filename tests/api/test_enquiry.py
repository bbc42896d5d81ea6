"""The enquiry through HTTP with real tokens, rules, matching and audit: PERMIT, DENY, REVIEW, the Task form,
every bad input of issue 5 (each refused precisely, each audited), fail-closed audit, what-if and $match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from mais_node.audit.verify import verify
from mais_node.config import DEFAULTS
from mais_node.errors import AuditUnavailable
from tests.api.conftest import Node
from tests.builders import NHS

FHIR = {"content-type": "application/fhir+json"}
PURPOSE = "https://mais.example.org/fhir/CodeSystem/request-asserted-purpose"
S47 = "https://www.legislation.gov.uk/ukpga/1989/41/section/47"
VERIFIED = {
    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "valueCodeableConcept": {
        "coding": [
            {"system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland", "code": "01"}
        ]
    },
}
KNOWN = {"nhs": "9434765919", "family": "Okafor", "given": "Amara", "birthDate": "2015-04-12", "postcode": "LS6 2AB"}


def person(nhs: str, family: str, given: str, birth: str, postcode: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs, "extension": [VERIFIED]}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": "female",
        "birthDate": birth,
        "address": [{"postalCode": postcode}],
    }


def subject(nhs: str | None = KNOWN["nhs"], **changes: Any) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": KNOWN["family"], "given": [KNOWN["given"]]}],
        "birthDate": KNOWN["birthDate"],
    }
    if nhs:
        patient["identifier"] = [{"system": NHS, "value": nhs}]
    patient.update(changes)
    return patient


def parameters(
    *extra: dict[str, Any], reason: dict[str, Any] | None = None, who: dict[str, Any] | None = None
) -> dict[str, Any]:
    params = [{"name": "resource", "resource": who or subject()}]
    params.append(reason if reason is not None else {"name": "reason", "valueUri": S47})
    params.extend(extra)
    return {"resourceType": "Parameters", "parameter": params}


def ask(*items: str) -> list[dict[str, Any]]:
    return [{"name": "requestedItem", "valueCode": item} for item in items]


@pytest.fixture
def world(node: Node) -> Node:
    return seed_world(node)


def seed_world(node: Node) -> Node:
    """A node with a local authority (LA0001), a police force (POL001), one known person with an open episode."""
    node.organisation("LA0001")
    node.organisation("POL001", "police")
    admin = node.as_("system/*.cruds mais/admin")
    team = node.http.post(
        "/fhir/Organization",
        content=orjson.dumps(
            {
                "resourceType": "Organization",
                "name": "North Team",
                "telecom": [{"system": "phone", "value": "0113 000 0000"}],
            }
        ),
        headers={**FHIR, **admin},
    ).json()["id"]
    pid = node.http.post(
        "/fhir/Patient", content=orjson.dumps(person(*KNOWN.values())), headers={**FHIR, **admin}
    ).json()["id"]
    episode = {
        "resourceType": "EpisodeOfCare",
        "status": "active",
        "patient": {"reference": f"Patient/{pid}"},
        "managingOrganization": {"reference": f"Organization/{team}"},
    }
    node.http.post("/fhir/EpisodeOfCare", content=orjson.dumps(episode), headers={**FHIR, **admin})
    node.services.persons.refresh()
    return node


def enquire(node: Node, body: dict[str, Any], ods: str = "LA0001", scope: str = "mais/enquiry") -> Any:
    return node.http.post(
        "/fhir/Patient/$person-info-query", content=orjson.dumps(body), headers={**FHIR, **node.as_(scope, ods)}
    )


def values(answer: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: p for p in answer["parameter"] if p["name"] != "decision"}


def audit_subtypes(node: Node) -> list[str]:
    return [c["code"] for r in node.services.audit.scan() for c in r.event.get("subtype", [])]


def test_s47_from_a_local_authority_is_answered_with_match_open_and_contact(world: Node) -> None:
    answer = enquire(world, parameters(*ask("is-known", "is-open", "contact")))
    assert answer.status_code == 200, answer.text
    got = values(answer.json())
    assert got["match"]["valueBoolean"] is True
    assert got["open"]["valueBoolean"] is True
    assert got["contact"]["resource"]["telecom"][0]["value"] == "0113 000 0000"
    assert got["matchGrade"]["valueCode"] == "certain"
    rules = [
        p["valueString"]
        for d in answer.json()["parameter"]
        if d["name"] == "decision"
        for p in d["part"]
        if p["name"] == "rule"
    ]
    assert "national:s47:statutory-gateway" in rules
    subtypes = audit_subtypes(world)
    assert {"enquiry-received", "decision", "disclose"} <= set(subtypes)
    assert verify(world.services.audit.scan()).ok


def test_an_unknown_person_is_not_known_and_nothing_is_disclosed(world: Node) -> None:
    stranger = subject("9434765927", name=[{"family": "Nobody", "given": ["Zed"]}], birthDate="1950-01-01")
    answer = enquire(world, parameters(*ask("is-known", "is-open"), who=stranger))
    assert answer.status_code == 200
    got = values(answer.json())
    assert got["match"]["valueBoolean"] is False
    assert "contact" not in got
    assert "disclose" not in audit_subtypes(world)


def test_deny_reveals_nothing_about_whether_the_person_is_known(world: Node) -> None:
    known = enquire(world, parameters(), ods="POL001")
    unknown = enquire(world, parameters(who=subject("9434765927")), ods="POL001")
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()
    assert "deny" in audit_subtypes(world)


def test_general_safeguarding_without_an_agreement_is_referred_then_released_on_review(world: Node) -> None:
    reason = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
    referred = enquire(world, parameters(*ask("is-known", "is-open"), reason=reason))
    assert referred.status_code == 202, referred.text
    task = referred.json()
    assert task["status"] == "on-hold"
    assert task["businessStatus"]["coding"][0]["code"] == "review"
    task_id = task["id"]
    # the requester can poll its own Task; another organisation cannot see it
    assert world.http.get(f"/fhir/Task/{task_id}", headers=world.as_("system/Task.crs", "LA0001")).status_code == 200
    assert world.http.get(f"/fhir/Task/{task_id}", headers=world.as_("system/Task.crs", "POL001")).status_code == 404
    review = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "decision", "valueCode": "permit"},
            {"name": "reason", "valueString": "s11 duty; checked"},
        ],
    }
    reviewer = world.as_("mais/reviewer")
    decided = world.http.post(
        f"/fhir/Task/{task_id}/$review", content=orjson.dumps(review), headers={**FHIR, **reviewer}
    )
    assert decided.status_code == 200, decided.text
    answered = decided.json()
    assert answered["status"] == "completed"
    assert {o.get("valueBoolean") for o in answered["output"]} == {True}
    assert "review-decision" in audit_subtypes(world)
    again = world.http.post(f"/fhir/Task/{task_id}/$review", content=orjson.dumps(review), headers={**FHIR, **reviewer})
    assert again.status_code == 409


def test_the_task_form_is_answered_in_place(world: Node) -> None:
    task = orjson.loads(Path(DEFAULTS / "profiles/examples/mais-enquiry-valid-nhs-number.json").read_bytes())
    task["contained"][0]["identifier"][0]["value"] = KNOWN["nhs"]
    task["contained"][0]["name"] = [{"use": "official", "family": KNOWN["family"], "given": [KNOWN["given"]]}]
    task["contained"][0]["birthDate"] = KNOWN["birthDate"]
    role = next(r for r in task["contained"] if r["resourceType"] == "PractitionerRole")
    role["organization"]["identifier"]["value"] = "LA0001"
    answer = world.http.post(
        "/fhir/Task", content=orjson.dumps(task), headers={**FHIR, **world.as_("system/Task.crs", "LA0001")}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "completed"
    assert body["businessStatus"]["coding"][0]["code"] == "permit"
    assert body["output"][0]["valueBoolean"] is True
    denied = world.http.post(
        "/fhir/Task",
        content=orjson.dumps(
            {
                **task,
                "contained": [
                    task["contained"][0],
                    {
                        **role,
                        "organization": {
                            "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "POL001"}
                        },
                    },
                ],
            }
        ),
        headers={**FHIR, **world.as_("system/Task.crs", "POL001")},
    )
    assert denied.status_code == 201, denied.text
    assert denied.json()["status"] == "rejected"
    assert "valueBoolean" not in str(denied.json()["output"])


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (parameters(reason={"name": "requestId", "valueString": "x"}), 422, "reason"),
        (parameters(reason={"name": "reason", "valueCoding": {"system": PURPOSE, "code": "fishing"}}), 422, "fishing"),
        (
            parameters(reason={"name": "reason", "valueCoding": {"system": PURPOSE, "code": "s46-police-protection"}}),
            422,
            "s46",
        ),
        (parameters(who=subject(None, name=[{"family": "Okafor"}])), 422, "minimum"),
        (parameters(who=subject("9434765918")), 422, "NHS"),
        (parameters({"name": "sharingPolicy", "valueString": "no-such-agreement"}), 422, "no-such-agreement"),
        (parameters({"name": "requester", "valueIdentifier": {"value": "OTHER1"}}), 403, "token"),
        (parameters({"name": "resource", "resource": subject()}), 422, "one person"),
        (parameters(*ask("favourite-colour")), 422, "favourite-colour"),
    ],
    ids=[
        "no-reason",
        "unknown-purpose",
        "draft-purpose",
        "below-minimum",
        "bad-check-digit",
        "unknown-agreement",
        "requester-differs",
        "several-subjects",
        "unknown-item",
    ],
)
def test_bad_enquiries_are_refused_precisely_and_audited(
    world: Node, body: dict[str, Any], status: int, says: str
) -> None:
    answer = enquire(world, body)
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    text = " ".join(i["diagnostics"] + " ".join(i.get("expression", [])) for i in outcome["issue"])
    assert says.lower() in text.lower()
    assert "match" not in answer.text
    assert "enquiry-refused" in audit_subtypes(world) or "enquiry-received" in audit_subtypes(world)
    assert verify(world.services.audit.scan()).ok


def test_a_refused_enquiry_writes_its_refusal_to_the_audit_trail(world: Node) -> None:
    enquire(world, parameters(who=subject("9434765918")))
    assert audit_subtypes(world).count("enquiry-refused") == 1


def test_an_expired_agreement_is_refused(world: Node) -> None:
    from mais_node.enquiry.records import to_contract
    from mais_node.policy import parse_sharing_policy

    document = orjson.loads(Path(DEFAULTS / "sharing-policies/LA0001-NODE01-2026.json").read_bytes())
    document["EndDate"] = "2026-01-31"
    policy = parse_sharing_policy(document)
    world.services.resources.update("Contract", policy.identifier, to_contract(document, policy))
    answer = enquire(world, parameters({"name": "sharingPolicy", "valueString": policy.identifier}))
    assert answer.status_code == 422
    assert "not in force" in answer.text


def test_the_node_fails_closed_when_the_audit_trail_cannot_be_written(
    world: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise AuditUnavailable("disk full")

    headers = {**FHIR, **world.as_("mais/enquiry", "LA0001")}
    monkeypatch.setattr(world.services.audit, "append", broken)
    monkeypatch.setattr(world.services.audit, "append_many", broken)
    body = orjson.dumps(parameters(*ask("is-known", "is-open", "contact")))
    answer = world.http.post("/fhir/Patient/$person-info-query", content=body, headers=headers)
    assert answer.status_code == 503
    assert "match" not in answer.text
    assert "0113" not in answer.text


def test_what_if_decides_without_matching_or_answering(world: Node) -> None:
    answer = world.http.post(
        "/fhir/Patient/$what-if",
        content=orjson.dumps(
            parameters(*ask("is-known"), {"name": "requester", "valueIdentifier": {"value": "LA0001"}})
        ),
        headers={**FHIR, **world.as_("mais/reviewer")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["parameter"][0] == {"name": "outcome", "valueCode": "permit"}
    assert "what-if" in audit_subtypes(world)
    assert "match" not in [p["name"] for p in answer.json()["parameter"]]


def test_patient_match_lists_graded_candidates_for_reviewers(world: Node) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": subject()}]}
    answer = world.http.post(
        "/fhir/Patient/$match", content=orjson.dumps(body), headers={**FHIR, **world.as_("mais/reviewer")}
    )
    assert answer.status_code == 200
    entry = answer.json()["entry"][0]
    assert entry["search"]["extension"][0]["valueCode"] == "certain"
    forbidden = world.http.post(
        "/fhir/Patient/$match", content=orjson.dumps(body), headers={**FHIR, **world.as_("mais/enquiry", "LA0001")}
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    "scope", ["system/Task.cruds", "system/*.cruds", "system/Task.cr system/Task.s", "system/Task.crs", "mais/enquiry"]
)
def test_any_scopes_that_cover_the_enquiry_may_send_it(world: Node, scope: str) -> None:
    """Issue 12 item 3: whether the granted scopes cover the need, not whether one of them is a given string."""
    answer = enquire(world, parameters(*ask("is-known")), scope=scope)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("scope", ["system/Task.rs", "system/Patient.cruds", "mais/reviewer"])
def test_scopes_that_do_not_cover_the_enquiry_are_403_naming_the_need(world: Node, scope: str) -> None:
    answer = enquire(world, parameters(*ask("is-known")), scope=scope)
    assert answer.status_code == 403
    assert "mais/enquiry or system/Task.crs" in answer.json()["issue"][0]["diagnostics"]


def test_a_referred_enquirys_task_conforms_to_the_enquiry_profile(world: Node) -> None:
    """The Task kept for review is an enquiry Task as the node's own profile defines it (authoredOn included)."""
    reason = {"name": "reason", "valueCoding": {"system": PURPOSE, "code": "general-safeguarding"}}
    referred = enquire(world, parameters(*ask("is-known"), reason=reason))
    assert referred.status_code == 202, referred.text
    task = referred.json()
    assert task["authoredOn"].endswith("Z")
    profile = "https://mais.example.org/fhir/StructureDefinition/mais-enquiry"
    issues = world.services.validator().validate(task, profile)
    assert [i.diagnostics for i in issues if i.severity in ("error", "fatal")] == []

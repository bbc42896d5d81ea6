"""The answer, in the form the enquiry came in: MAIS ``$person-info-query`` Parameters out, or the Task itself.

Only what was asked and permitted is written. A DENY item says "deny" and nothing else; a REVIEW leaves the Task
on hold until an IG officer decides.
"""

from __future__ import annotations

import copy
from typing import Any

from mais_node.enquiry.model import Answer, Enquiry
from mais_node.policy import Decision, Item, Outcome
from mais_node.terminology import CANONICAL_BASE, REQUEST_TYPE_SYSTEM

DECISION_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/decision"
INPUT_TYPE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/enquiry-input-type"
MATCH_GRADE_SYSTEM = "http://terminology.hl7.org/CodeSystem/match-grade"
REQUESTER_TAG = f"{CANONICAL_BASE}/requester-org"
PURPOSE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/request-asserted-purpose"
CONSENT_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/consent-status"
TASK_STATUS = {Outcome.PERMIT: "completed", Outcome.DENY: "rejected", Outcome.REVIEW: "on-hold"}


def _decision_parts(decision: Decision) -> list[dict[str, Any]]:
    parts = []
    for decided in decision:
        part: list[dict[str, Any]] = [
            {"name": "item", "valueCode": str(decided.item)},
            {"name": "outcome", "valueCode": decided.outcome.value.lower()},
        ]
        part.extend({"name": "rule", "valueString": rule} for rule in decided.rule_ids)
        parts.append({"name": "decision", "part": part})
    return parts


def to_parameters(answer: Answer) -> dict[str, Any]:
    """Parameters out (MAIS v0.3): ``match`` and, when permitted, ``open``, ``contact`` and ``subjectOfPlan``; the
    decisions."""
    parameters: list[dict[str, Any]] = [{"name": "requestId", "valueString": answer.enquiry_id}]
    if answer.known is not None:  # only when is-known was asked and permitted
        parameters.insert(0, {"name": "match", "valueBoolean": answer.known})
    if answer.open is not None:
        parameters.append({"name": "open", "valueBoolean": answer.open})
    if answer.contact is not None:
        parameters.append({"name": "contact", "resource": answer.contact.organization})
    if answer.subject_of_plan is not None:
        parameters.append({"name": "subjectOfPlan", "valueBoolean": answer.subject_of_plan})
    if answer.grade is not None and answer.known:
        parameters.append({"name": "matchGrade", "valueCode": answer.grade.value})
    parameters.extend(_decision_parts(answer.decision))
    return {"resourceType": "Parameters", "parameter": parameters}


def _item_coding(item: Item) -> dict[str, Any]:
    return {"coding": [{"system": REQUEST_TYPE_SYSTEM, "code": str(item)}]}


def _decision_concept(outcome: Outcome) -> dict[str, Any]:
    return {"coding": [{"system": DECISION_SYSTEM, "code": outcome.value.lower()}], "text": outcome.value}


def answer_task(
    task: dict[str, Any],
    decision: Decision,
    answer: Answer | None,
    node_ods: str,
    requester_ods: str,
    *,
    built_here: bool = False,
) -> dict[str, Any]:
    """The enquiry Task answered in place: status, businessStatus = the outcome, one output per item.

    ``task`` is left as it was (the answer is a copy), unless ``built_here``: the caller has just built it
    (``task_for``) and holds it nowhere else, so it is answered itself, without a copy. Either way only ``task``'s own
    keys are set or replaced; nothing nested in it is changed (what it shares with the enquiry stays as it was).
    """
    out = task if built_here else copy.deepcopy(task)
    out.pop("id", None)
    outcome = decision.outcome
    out["status"] = TASK_STATUS[outcome]
    out["businessStatus"] = _decision_concept(outcome)
    out["owner"] = {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": node_ods}}
    meta = dict(out.get("meta") or {})
    meta["tag"] = [t for t in meta.get("tag", []) if t.get("system") != REQUESTER_TAG] + [
        {"system": REQUESTER_TAG, "code": requester_ods}
    ]
    out["meta"] = meta
    outputs: list[dict[str, Any]] = []
    for decided in decision:
        output: dict[str, Any] = {"type": _item_coding(decided.item)}
        if decided.outcome is not Outcome.PERMIT or answer is None:
            output["valueCodeableConcept"] = _decision_concept(decided.outcome)
        elif decided.item is Item.IS_KNOWN:
            output["valueBoolean"] = bool(answer.known)
        elif decided.item is Item.IS_OPEN:
            output["valueBoolean"] = bool(answer.open)
        elif decided.item is Item.IS_SUBJECT_OF_PLAN:
            output["valueBoolean"] = bool(answer.subject_of_plan)
        elif answer.contact is not None:
            contained = [r for r in out.get("contained", []) if r.get("id") != "contact"]
            out["contained"] = [*contained, {**answer.contact.organization, "id": "contact"}]
            output["valueReference"] = {"reference": "#contact"}
        else:
            output["valueCodeableConcept"] = {"text": "no contact to give"}
        outputs.append(output)
    out["output"] = outputs
    return out


def task_for(enquiry: Enquiry, authored: str | None = None) -> dict[str, Any]:
    """An enquiry made through the MAIS operation, written as an enquiry Task (to wait for review); ``authored``
    (a FHIR instant) is when the node received it, the profile's required ``authoredOn``."""
    subject = {**enquiry.subject, "id": "subject"}
    user: dict[str, Any] = {"resourceType": "PractitionerRole", "id": "user"}
    if enquiry.user.identifier or enquiry.user.name:
        user["practitioner"] = {
            k: v
            for k, v in (
                ("identifier", {"value": enquiry.user.identifier} if enquiry.user.identifier else None),
                ("display", enquiry.user.name),
            )
            if v
        }
    if enquiry.user.role:
        user["code"] = [{"text": enquiry.user.role}]
    inputs = [
        {
            "type": {"coding": [{"system": INPUT_TYPE_SYSTEM, "code": "requested-item"}]},
            "valueCodeableConcept": _item_coding(Item(i)),
        }
        for i in enquiry.items
        if i in {x.value for x in Item}
    ]
    inputs += [
        {"type": {"coding": [{"system": INPUT_TYPE_SYSTEM, "code": "sharing-policy"}]}, **_claimed(p)}
        for p in enquiry.sharing_policies
    ]
    if enquiry.consent is not None:
        inputs.append(
            {
                "type": {"coding": [{"system": INPUT_TYPE_SYSTEM, "code": "consent"}]},
                "valueCodeableConcept": {"coding": [{"system": CONSENT_SYSTEM, "code": enquiry.consent}]},
            }
        )
    task: dict[str, Any] = {
        "resourceType": "Task",
        "contained": [subject, user],
        "identifier": [{"system": f"{CANONICAL_BASE}/Id/request-id", "value": enquiry.request_id}],
        "status": "requested",
        "intent": "order",
        "code": _item_coding(Item(enquiry.items[0]))
        if enquiry.items[0] in {x.value for x in Item}
        else {"text": "enquiry"},
        "for": {"reference": "#subject"},
        "requester": {"reference": "#user"},
        "input": inputs,
    }
    if authored is not None:
        task["authoredOn"] = authored
    if enquiry.purpose:
        task["reasonCode"] = {"coding": [{"system": PURPOSE_SYSTEM, "code": enquiry.purpose}]}
    elif enquiry.reason_uri:
        task["reasonCode"] = {"text": enquiry.reason_uri}
    return task


def _claimed(name: str) -> dict[str, Any]:
    """A claimed agreement as the requester named it, so that reading the Task back names the same one."""
    system, bar, value = name.rpartition("|")
    if bar and system and value:
        return {"valueIdentifier": {"system": system, "value": value}}
    if "://" in name:
        return {"valueReference": {"reference": name}}
    return {"valueIdentifier": {"system": f"{CANONICAL_BASE}/sharing-policy", "value": name}}

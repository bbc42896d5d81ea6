"""View models of the review queue: a referred enquiry Task read into plain strings for the templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mais_node.audit.actors import NHS_NUMBER
from mais_node.enquiry.respond import PURPOSE_SYSTEM, REQUESTER_TAG
from mais_node.terminology import REQUEST_TYPE_SYSTEM


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    birth_date: str
    nhs_number: str
    address: str
    gender: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    person: Person
    score: str
    grade: str
    agree: tuple[str, ...]
    disagree: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Referral:
    task_id: str
    version: int
    request_id: str
    received: str
    age: str
    requester: str
    user: str
    user_role: str
    purpose: str
    items: tuple[str, ...]
    subject: Person
    policies: tuple[str, ...] = ()
    rules: tuple[tuple[str, str, str], ...] = ()  # (item, outcome, rule ids) as decided on arrival
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)


def age(since: datetime, now: datetime) -> str:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} minutes"
    if seconds < 86400:
        return f"{seconds // 3600} hours {seconds % 3600 // 60} minutes"
    return f"{seconds // 86400} days {seconds % 86400 // 3600} hours"


def person(patient: dict[str, Any]) -> Person:
    names = patient.get("name") or [{}]
    first = names[0] if isinstance(names[0], dict) else {}
    name = " ".join([*map(str, first.get("given") or []), str(first.get("family") or "")]).strip()
    nhs = next(
        (
            str(i.get("value"))
            for i in patient.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == NHS_NUMBER
        ),
        "",
    )
    addresses = patient.get("address") or [{}]
    address = addresses[0] if isinstance(addresses[0], dict) else {}
    where = ", ".join(
        str(p) for p in [*(address.get("line") or []), address.get("city"), address.get("postalCode")] if p
    )
    return Person(
        name or "(no name given)", str(patient.get("birthDate") or ""), nhs, where, str(patient.get("gender") or "")
    )


def _codes(concept: Any, system: str) -> list[str]:
    return [str(c.get("code")) for c in (concept or {}).get("coding") or [] if c.get("system") == system]


def referral(task: dict[str, Any], task_id: str, version: int, received: datetime, now: datetime) -> Referral:
    contained = {r.get("id"): r for r in task.get("contained") or [] if isinstance(r, dict)}
    subject = contained.get("subject") or {}
    user = contained.get("user") or {}
    practitioner = user.get("practitioner") or {}
    who = str(practitioner.get("display") or (practitioner.get("identifier") or {}).get("value") or "")
    role = ", ".join(str(c.get("text")) for c in user.get("code") or [] if c.get("text"))
    tags = (task.get("meta") or {}).get("tag") or []
    requester = next((str(t.get("code")) for t in tags if t.get("system") == REQUESTER_TAG), "")
    purpose = _codes(task.get("reasonCode"), PURPOSE_SYSTEM) or [str((task.get("reasonCode") or {}).get("text") or "")]
    items = []
    policies = []
    for entry in task.get("input") or []:
        items += _codes(entry.get("valueCodeableConcept"), REQUEST_TYPE_SYSTEM)
        if "valueIdentifier" in entry:
            policies.append(str(entry["valueIdentifier"].get("value")))
    request_id = next((str(i.get("value")) for i in task.get("identifier") or []), task_id)
    return Referral(
        task_id=task_id,
        version=version,
        request_id=request_id,
        received=received.strftime("%-d %B %Y %H:%M UTC"),
        age=age(received, now),
        requester=requester,
        user=who,
        user_role=role,
        purpose=purpose[0],
        items=tuple(items),
        subject=person(subject),
        policies=tuple(policies),
    )


def candidate(subject: Person, patient: dict[str, Any], score: float, grade: str) -> Candidate:
    them = person(patient)
    agree: list[str] = []
    disagree: list[str] = []
    for label, mine, theirs in (
        ("name", subject.name.lower(), them.name.lower()),
        ("date of birth", subject.birth_date, them.birth_date),
        ("NHS number", subject.nhs_number, them.nhs_number),
        ("address", subject.address.lower(), them.address.lower()),
    ):
        if mine and theirs:
            (agree if mine == theirs else disagree).append(label)
    return Candidate(them, f"{score:.2f}", grade, tuple(agree), tuple(disagree))

"""An enquiry as the node handles it, whichever form it arrived in (MAIS operation or Task), and its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mais_node.policy import Decision, Item, MatchGrade, Outcome


@dataclass(frozen=True, slots=True)
class Asker:
    """Who the token says is asking: the organisation and the system (client), and the network address the node
    believes it asks from (for the audit)."""

    ods: str
    client_id: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorisedUser:
    """The person at the requesting system, as that system asserts them (MAIS IG Request)."""

    identifier: str | None = None
    name: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Enquiry:
    """ "Do you know this person?": the subject, the purpose, the items asked and the agreements claimed."""

    form: str  # "operation" | "task"
    request_id: str
    subject: dict[str, Any]
    purpose: str | None
    reason_uri: str | None
    items: tuple[str, ...]
    sharing_policies: tuple[str, ...]
    user: AuthorisedUser
    requester_ods: str | None
    raw: bytes
    task: dict[str, Any] | None = None
    consent: str | None = None  # the consent element (a consent-status code), None when the request has none


@dataclass(frozen=True, slots=True)
class Match:
    grade: MatchGrade
    person_id: str | None = None
    score: float = 0.0
    ambiguous: bool = False
    nhs_number: str | None = None  # the candidate's, as the node's own record holds it (for the audit trail)


@dataclass(frozen=True, slots=True)
class Contact:
    """Who to call: the organisation holding the involvement (an Organization resource)."""

    organization: dict[str, Any]


@dataclass(slots=True)
class Answer:
    """What the node releases: per item, its outcome and (when permitted) the value."""

    enquiry_id: str
    decision: Decision
    grade: MatchGrade | None
    known: bool | None = None
    open: bool | None = None
    contact: Contact | None = None
    subject_of_plan: bool | None = None
    released: list[Item] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        return self.decision.outcome

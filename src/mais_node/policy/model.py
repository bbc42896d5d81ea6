"""What the decision rules are asked and what they answer (DESIGN §6, issue 5 §3).

A ``DecisionRequest`` is an enquiry that has passed the hard gates (token, register, profile, vocabulary,
sharing policy in force): the rules see only requests the node could lawfully consider. The answer is one
``ItemDecision`` per requested item: PERMIT, DENY or REVIEW with the ids of the rules that decided.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    """The MAIS information-governance decision (CodeSystem ``decision``)."""

    PERMIT = "PERMIT"
    DENY = "DENY"
    REVIEW = "REVIEW"


class Item(StrEnum):
    """A requested item (CodeSystem ``request-type``)."""

    IS_KNOWN = "is-known"
    IS_OPEN = "is-open"
    CONTACT = "contact"
    IS_SUBJECT_OF_PLAN = "is-subject-of-plan"

    @property
    def data_category(self) -> str:
        """The node's data category the item asks about (CodeSystem ``request-data-category``): the Cedar resource."""
        return STATE if self is Item.IS_SUBJECT_OF_PLAN else INVOLVEMENT


INVOLVEMENT = "involvement"
STATE = "state"
# The consent element of a request (CodeSystem ``consent-status``) as the rules see it; absent, "not-stated".
CONSENT_NOT_STATED = "not-stated"


class MatchGrade(StrEnum):
    """The grade of the person match, as FHIR ``$match`` (release stage only)."""

    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    CERTAINLY_NOT = "certainly-not"


class ClauseEffect(StrEnum):
    PERMIT = "permit"
    FORBID = "forbid"


@dataclass(frozen=True, slots=True)
class Requester:
    """The requesting organisation as the register holds it (codes from the organisation CodeSystems)."""

    ods: str
    type: str
    operational_status: str
    technical_status: str
    verified: bool

    @property
    def active(self) -> bool:
        """Operationally and technically active (codes compared case-insensitively)."""
        return self.operational_status.lower() == "active" and self.technical_status.lower() == "active"


@dataclass(frozen=True, slots=True)
class Clause:
    """One compiled clause of a sharing policy: the rule id it becomes and the items it permits or forbids."""

    rule_id: str
    effect: ClauseEffect
    items: frozenset[Item]


@dataclass(frozen=True, slots=True)
class ClaimedPolicy:
    """A sharing policy the requester claimed, already found in force and naming both parties."""

    identifier: str
    version: int
    purposes: frozenset[str]
    data_categories: frozenset[str]
    clauses: tuple[Clause, ...] = ()

    def covers(self, purpose: str, data_category: str) -> bool:
        return purpose in self.purposes and data_category in self.data_categories


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One enquiry as the rules see it; ``match_grade`` is None before matching.

    ``data_category`` None asks each item about its own category; a category asks every item about that one (the
    policy tests' "another data category" cases). ``consent`` is the consent element the requester asserted.
    """

    requester: Requester
    client_id: str
    purpose: str
    legal_basis: str
    items: tuple[Item, ...]
    at: datetime
    sharing_policies: tuple[ClaimedPolicy, ...] = ()
    data_category: str | None = None
    match_grade: MatchGrade | None = None
    consent: str = CONSENT_NOT_STATED

    def category_of(self, item: Item) -> str:
        return item.data_category if self.data_category is None else self.data_category

    def at_release(self, grade: MatchGrade) -> DecisionRequest:
        """The same request in the release stage, once the person has been matched."""
        return replace(self, match_grade=grade)


@dataclass(frozen=True, slots=True)
class ItemDecision:
    """The decision on one requested item, with the ids of the rules that determined it."""

    item: Item
    outcome: Outcome
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The decisions on every requested item of one request, and the rule set that made them."""

    items: tuple[ItemDecision, ...]
    rule_set_hash: str
    evaluation_errors: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[ItemDecision]:
        return iter(self.items)

    def of(self, item: Item) -> ItemDecision:
        for decided in self.items:
            if decided.item == item:
                return decided
        raise KeyError(item)

    @property
    def outcome(self) -> Outcome:
        """The enquiry as a whole: REVIEW if any item waits, else PERMIT if any is answered, else DENY."""
        outcomes = {decided.outcome for decided in self.items}
        if Outcome.REVIEW in outcomes:
            return Outcome.REVIEW
        if Outcome.PERMIT in outcomes:
            return Outcome.PERMIT
        return Outcome.DENY

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Every rule id that decided some item, in order, once each (for the audit record)."""
        return tuple(dict.fromkeys(rule for decided in self.items for rule in decided.rule_ids))

"""A fast in-memory policy engine applying the national default rules in plain Python (DESIGN §6).

It mirrors ``defaults/rules/national.cedar`` rule for rule, with the same ids, and the clauses of the sharing
policies a request claims; it ignores the use-case rules (``national/*.cedar``) and local rules. Other areas' tests
use it instead of Cedar; a unit test checks that it agrees with the Cedar engine on every national policy-test case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mais_node.errors import Issue, NotConformant
from mais_node.policy.model import ClauseEffect, Decision, DecisionRequest, Item, MatchGrade
from mais_node.policy.outcome import Evaluation, combine
from mais_node.policy.ruleset import RuleSet

NATIONAL_DEFAULTS_HASH = "fake:national-defaults"
LA_CHILDRENS_SOCIAL_CARE = "la-childrens-social-care"


@dataclass(frozen=True, slots=True)
class _Rule:
    rule_id: str
    forbid: bool
    applies: Callable[[DecisionRequest, Item, bool], bool]  # (request, item, is the referral)


def _s47_from_childrens_social_care(request: DecisionRequest) -> bool:
    return request.purpose == "s47-enquiry" and request.requester.type == LA_CHILDRENS_SOCIAL_CARE


def _involvement(request: DecisionRequest, item: Item) -> bool:
    return request.category_of(item) == "involvement"


NATIONAL_RULES: tuple[_Rule, ...] = (
    _Rule("national:forbid:organisation-not-active", True, lambda r, i, refer: not r.requester.active),
    _Rule("national:forbid:organisation-not-verified", True, lambda r, i, refer: not r.requester.verified),
    _Rule(
        "national:s47:statutory-gateway",
        False,
        lambda r, i, refer: (
            i in (Item.IS_KNOWN, Item.IS_OPEN) and _involvement(r, i) and _s47_from_childrens_social_care(r)
        ),
    ),
    _Rule(
        "national:s47:contact-on-certain-match",
        False,
        lambda r, i, refer: i is Item.CONTACT and _involvement(r, i) and _s47_from_childrens_social_care(r),
    ),
    _Rule(
        "national:match:probable-needs-review",
        True,
        lambda r, i, refer: not refer and r.match_grade is MatchGrade.PROBABLE,
    ),
    _Rule(
        "national:general-safeguarding:review-without-agreement",
        False,
        lambda r, i, refer: refer and _involvement(r, i) and r.purpose == "general-safeguarding",
    ),
    _Rule(
        "national:already-open:review-without-agreement",
        False,
        lambda r, i, refer: (
            refer and i in (Item.IS_KNOWN, Item.IS_OPEN) and _involvement(r, i) and r.purpose == "already-open"
        ),
    ),
)


class FakePolicyEngine:
    """The ``PolicyEngine`` port without Cedar: national defaults plus claimed agreements, always loaded."""

    def __init__(self) -> None:
        self._hash = NATIONAL_DEFAULTS_HASH
        self.refusals: list[Issue] = []
        self.loaded: list[RuleSet] = []

    @property
    def rule_set_hash(self) -> str | None:
        return self._hash

    def check(self, rule_set: RuleSet) -> list[Issue]:
        """The issues a test set in ``refusals``: the fake cannot read Cedar."""
        return list(self.refusals)

    def load(self, rule_set: RuleSet) -> None:
        if self.refusals:
            raise NotConformant("the rule set is refused", issues=self.refusals)
        self.loaded.append(rule_set)
        self._hash = rule_set.content_hash

    def decide(self, request: DecisionRequest) -> Decision:
        decided = tuple(
            combine(item, _evaluate(request, item, refer=False), _evaluate(request, item, refer=True))
            for item in request.items
        )
        return Decision(decided, self._hash)


def _evaluate(request: DecisionRequest, item: Item, *, refer: bool) -> Evaluation:
    permits: list[str] = []
    forbids: list[str] = []
    for rule in NATIONAL_RULES:
        if rule.applies(request, item, refer):
            (forbids if rule.forbid else permits).append(rule.rule_id)
    for policy in request.sharing_policies:
        if not policy.covers(request.purpose, request.category_of(item)):
            continue
        for clause in policy.clauses:
            if item in clause.items:
                (forbids if clause.effect is ClauseEffect.FORBID else permits).append(clause.rule_id)
    if forbids:
        return Evaluation(False, tuple(forbids))
    return Evaluation(bool(permits), tuple(permits))

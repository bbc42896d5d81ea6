"""The policy engine on Cedar (``cedarpy``): the only module that imports it (DESIGN §6; issue 5 §3).

Principal ``Organisation::"<ODS>"`` with its register attributes; action the requested item (``is-known``,
``is-open``, ``contact``) and its referral (``refer-<item>``); resource ``DataCategory::"<category>"``;
context the purpose, legal basis, client, claimed sharing policies, match grade ("none" before matching) and
time. Every policy must carry a unique ``@id``; the ids of the policies that decided travel with each item
decision. A rule set is validated whole against its schema before it replaces the loaded one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import cedarpy

from mais_node.errors import InvalidRequest, Issue, NotConformant, Unavailable
from mais_node.policy.model import Decision, DecisionRequest
from mais_node.policy.outcome import Evaluation, combine
from mais_node.policy.ruleset import PolicySource, RuleSet

NO_GRADE = "none"


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A validated rule set, parsed once; replaced whole, never changed."""

    hash: str
    schema: cedarpy.Schema
    policies: cedarpy.PolicySet
    order: dict[str, int]


class CedarPolicyEngine:
    """The ``PolicyEngine`` port on cedarpy: validate, load, decide each item in one batch."""

    def __init__(self) -> None:
        self._loaded: _Loaded | None = None

    @property
    def rule_set_hash(self) -> str | None:
        return None if self._loaded is None else self._loaded.hash

    def check(self, rule_set: RuleSet) -> list[Issue]:
        return self._prepare(rule_set)[0]

    def load(self, rule_set: RuleSet) -> None:
        issues, loaded = self._prepare(rule_set)
        if loaded is None:
            raise NotConformant(
                f"the rule set is refused ({len(issues)} problems); the previous rule set stays in force",
                issues=issues,
            )
        self._loaded = loaded

    def decide(self, request: DecisionRequest) -> Decision:
        loaded = self._loaded
        if loaded is None:
            raise Unavailable("no decision rules are loaded")
        entities, context = _entities(request), _context(request)
        principal = {"type": "Organisation", "id": request.requester.ods}
        resource = {"type": "DataCategory", "id": request.data_category}
        batch = [
            {"principal": principal, "action": {"type": "Action", "id": action}, "resource": resource,
             "context": context}
            for item in request.items
            for action in (item.value, f"refer-{item.value}")
        ]  # fmt: skip
        try:
            results = cedarpy.is_authorized_batch(batch, loaded.policies, entities, schema=loaded.schema)
        except (ValueError, TypeError) as exc:
            raise InvalidRequest("the decision request does not fit the rule schema") from exc
        evaluations = [_evaluation(result, loaded.order) for result in results]
        decided = tuple(
            combine(item, evaluations[2 * n], evaluations[2 * n + 1]) for n, item in enumerate(request.items)
        )
        errors = tuple(dict.fromkeys(error for evaluation in evaluations for error in evaluation.errors))
        return Decision(decided, loaded.hash, errors)

    def _prepare(self, rule_set: RuleSet) -> tuple[list[Issue], _Loaded | None]:
        try:
            schema = cedarpy.Schema.from_str(rule_set.schema)
        except ValueError as exc:
            return [_issue("schema", f"the Cedar schema does not parse: {exc}")], None
        issues: list[Issue] = []
        ids: list[str] = []
        for source in rule_set.sources:
            issues.extend(_check_source(source, schema, ids))
        if issues:
            return issues, None
        try:
            policies = cedarpy.PolicySet.from_str(rule_set.text)
        except ValueError as exc:
            return [_issue("rules", f"the rule set does not parse as a whole: {exc}")], None
        order = {rule_id: n for n, rule_id in enumerate(ids)}
        return [], _Loaded(rule_set.content_hash, schema, policies, order)


def _check_source(source: PolicySource, schema: cedarpy.Schema, ids: list[str]) -> list[Issue]:
    """Parse errors, missing or repeated ``@id``, templates and schema errors of one source; adds to ``ids``."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(source.text))
    except ValueError as exc:
        return [_issue(source.name, f"does not parse: {exc}")]
    issues = []
    if parsed.get("templates"):
        issues.append(_issue(source.name, "policy templates are not supported: write each policy out"))
    for position, policy in enumerate(parsed.get("staticPolicies", {}).values(), start=1):
        rule_id = policy.get("annotations", {}).get("id")
        if not rule_id:
            issues.append(_issue(source.name, f"policy number {position} has no @id annotation"))
        elif rule_id in ids:
            issues.append(_issue(source.name, f"the rule id {rule_id!r} is used more than once"))
        else:
            ids.append(rule_id)
    result = cedarpy.validate_policies(source.text, schema)
    named = result.id_annotations_by_policy_id
    for error in result.errors:
        where = named.get(error.policy_id, error.policy_id)
        issues.append(_issue(source.name, f"[{where}] {error.error}" if where else error.error))
    return issues


def _issue(where: str, message: str) -> Issue:
    return Issue(f"{where}: {message}", "invalid", expression=(where,))


def _evaluation(result: cedarpy.AuthzResult, order: dict[str, int]) -> Evaluation:
    named = result.diagnostics.id_annotations_by_reason
    rule_ids = (named.get(reason, reason) for reason in result.diagnostics.reasons)
    ordered = tuple(sorted(rule_ids, key=lambda rule: order.get(rule, len(order))))
    return Evaluation(result.allowed, ordered, tuple(str(error) for error in result.diagnostics.errors))


def _entities(request: DecisionRequest) -> str:
    requester = request.requester
    organisation = {
        "uid": {"type": "Organisation", "id": requester.ods},
        "attrs": {
            "type": requester.type,
            "operationalStatus": requester.operational_status.lower(),
            "technicalStatus": requester.technical_status.lower(),
            "verified": requester.verified,
        },
        "parents": [],
    }
    category = {"uid": {"type": "DataCategory", "id": request.data_category}, "attrs": {}, "parents": []}
    return json.dumps([organisation, category])


def _context(request: DecisionRequest) -> str:
    return json.dumps(
        {
            "purpose": request.purpose,
            "legalBasis": request.legal_basis,
            "client": request.client_id,
            "sharingPolicies": sorted({policy.identifier for policy in request.sharing_policies}),
            "matchGrade": NO_GRADE if request.match_grade is None else request.match_grade.value,
            "time": {"__extn": {"fn": "datetime", "arg": _cedar_time(request.at)}},
        }
    )


def _cedar_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise InvalidRequest("the decision time must carry a timezone")
    utc = at.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"

"""The policy engine on Cedar (``cedarpy``): the only module that imports it (DESIGN §6; issue 5 §3).

Principal ``Organisation::"<ODS>"`` with its register attributes; action the requested item (``is-known``,
``is-open``, ``contact``, ``is-subject-of-plan``) and its referral (``refer-<item>``); resource
``DataCategory::"<category>"``, each item's own; context the purpose, legal basis, client, claimed sharing policies,
match grade ("none" before matching), the consent element ("not-stated" when absent) and time. Every policy must
carry a unique ``@id``; the ids of the policies that decided travel with each item decision. A rule set is
validated whole against its schema before it replaces the loaded one.

Each loaded rule set memoises its evaluations (``cedar_memo``): a decision on the same inputs, at a time
no policy of the set tells apart, is not evaluated again. A reload starts a new, empty memo.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cedarpy
import orjson

from mais_node.adapters.cedar_memo import (
    MEMO_CAPACITY,
    DecisionMemo,
    Evaluations,
    TimeKey,
    compared_time_literals,
    epoch_millis,
)
from mais_node.errors import InvalidRequest, Issue, NotConformant, Unavailable
from mais_node.policy.model import Decision, DecisionRequest
from mais_node.policy.outcome import Evaluation, combine
from mais_node.policy.ruleset import PolicySource, RuleSet

NO_GRADE = "none"


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A validated rule set, parsed once; replaced whole, never changed (its memo only fills)."""

    hash: str
    schema: cedarpy.Schema
    policies: cedarpy.PolicySet
    order: dict[str, int]
    clock: TimeKey
    memo: DecisionMemo


class CedarPolicyEngine:
    """The ``PolicyEngine`` port on cedarpy: validate, load, decide each item in one batch."""

    def __init__(self, memo_capacity: int = MEMO_CAPACITY) -> None:
        self._loaded: _Loaded | None = None
        self._memo_capacity = memo_capacity

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
        if request.at.tzinfo is None:
            raise InvalidRequest("the decision time must carry a timezone")
        entities, fields = _entities(request), _context_fields(request)
        actions = tuple(
            (action, request.category_of(item))
            for item in request.items
            for action in (item.value, f"refer-{item.value}")
        )
        key: Hashable = (entities, orjson.dumps(fields), actions, loaded.clock.key_at(request.at, _cedar_time))
        evaluations = loaded.memo.get(key)
        if evaluations is None:
            evaluations = _evaluate(loaded, request, entities, _context(fields, _cedar_time(request.at)), actions)
            loaded.memo.put(key, evaluations)
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
        memo = DecisionMemo(self._memo_capacity)
        return [], _Loaded(rule_set.content_hash, schema, policies, order, _time_key(rule_set.text), memo)


def _evaluate(
    loaded: _Loaded, request: DecisionRequest, entities: str, context: str, actions: tuple[tuple[str, str], ...]
) -> Evaluations:
    """Cedar's answer to every (action, data category), in one batch."""
    principal = {"type": "Organisation", "id": request.requester.ods}
    batch = [
        {
            "principal": principal,
            "action": {"type": "Action", "id": action},
            "resource": {"type": "DataCategory", "id": category},
            "context": context,
        }
        for action, category in actions
    ]
    try:
        results = cedarpy.is_authorized_batch(batch, loaded.policies, entities, schema=loaded.schema)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest("the decision request does not fit the rule schema") from exc
    return tuple(_evaluation(result, loaded.order) for result in results)


def _time_key(text: str) -> TimeKey:
    """Key the time by the literals ``context.time`` is compared with, if Cedar reads each as ``epoch_millis``
    does; else by the exact time."""
    literals = compared_time_literals(json.loads(cedarpy.policies_to_json_str(text)))
    if literals is None:
        return TimeKey(None)
    millis = {literal: epoch_millis(literal) for literal in literals}
    read = {literal: value for literal, value in millis.items() if value is not None}
    if len(read) != len(millis) or not _cedar_reads_alike(read):
        return TimeKey(None)
    return TimeKey.among(list(read.values()))


def _cedar_reads_alike(millis: dict[str, int]) -> bool:
    """Whether Cedar puts each literal at the given milliseconds since the epoch (one evaluation at load)."""
    if not millis:
        return True
    text = "\n".join(
        "permit (principal, action, resource) when "
        f'{{ datetime("{literal}") == datetime("1970-01-01").offset(duration("{value}ms")) }};'
        for literal, value in millis.items()
    )
    probe = {"type": "Probe", "id": "probe"}
    request = {"principal": probe, "action": {"type": "Action", "id": "probe"}, "resource": probe, "context": {}}
    result = cedarpy.is_authorized(request, text, "[]")
    return not result.diagnostics.errors and len(result.diagnostics.reasons) == len(millis)


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
    categories = sorted({request.category_of(item) for item in request.items})
    return orjson.dumps(
        [organisation, *({"uid": {"type": "DataCategory", "id": c}, "attrs": {}, "parents": []} for c in categories)]
    ).decode()


def _context_fields(request: DecisionRequest) -> dict[str, Any]:
    """The context but its time: with the entities, the part of a memo key taken exactly."""
    return {
        "purpose": request.purpose,
        "legalBasis": request.legal_basis,
        "client": request.client_id,
        "sharingPolicies": sorted({policy.identifier for policy in request.sharing_policies}),
        "matchGrade": NO_GRADE if request.match_grade is None else request.match_grade.value,
        "consent": request.consent,
    }


def _context(fields: dict[str, Any], time: str) -> str:
    return json.dumps({**fields, "time": {"__extn": {"fn": "datetime", "arg": time}}})


def _cedar_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise InvalidRequest("the decision time must carry a timezone")
    utc = at.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"

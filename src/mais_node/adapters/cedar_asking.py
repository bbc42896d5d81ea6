"""This node's rules on asking (``policy/asking.py``) on Cedar: one batch per single view, re-read on change.

Principal ``Node::"<ODS>"`` (this node's organisation, its type); action ``Action::"ask"``; resource
``Partner::"<ODS>"`` (its organisation type, the LAD codes it serves); context the purpose, the requested items,
the practitioner's system, the area ("" when none) and whether the practitioner named the partners. The files are
data: an edit is picked up at the next single view (their sizes and times are compared); an invalid edit is
refused whole, logged, and the last good rules stay in force. With no good rules at all, nothing is asked (503).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cedarpy

from mais_node.adapters.cedar import _check_source
from mais_node.errors import Issue, MaisError, NotConformant, Unavailable
from mais_node.policy.asking import AskDecision, Asking, Target, fingerprint, load_asking_rules
from mais_node.policy.outcome import DEFAULT_DENY, EVALUATION_ERROR
from mais_node.policy.ruleset import RuleSet

log = logging.getLogger("mais_node.policy")


@dataclass(frozen=True, slots=True)
class _Loaded:
    hash: str
    schema: cedarpy.Schema
    policies: cedarpy.PolicySet


def check(rule_set: RuleSet) -> tuple[list[Issue], _Loaded | None]:
    """Every problem of an asking rule set, or the set parsed and ready."""
    try:
        schema = cedarpy.Schema.from_str(rule_set.schema)
    except ValueError as exc:
        return [Issue(f"asking/schema: the Cedar schema does not parse: {exc}", "invalid")], None
    issues: list[Issue] = []
    ids: list[str] = []
    for source in rule_set.sources:
        issues.extend(_check_source(source, schema, ids))
    if issues:
        return issues, None
    try:
        policies = cedarpy.PolicySet.from_str(rule_set.text)
    except ValueError as exc:
        return [Issue(f"asking: the rule set does not parse as a whole: {exc}", "invalid")], None
    return [], _Loaded(rule_set.content_hash, schema, policies)


class CedarAskRules:
    """The ``AskRules`` port on cedarpy over ``<rules_dir>/asking``."""

    def __init__(self, rules_dir: Path) -> None:
        self.rules_dir = rules_dir
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._seen: object = None

    @property
    def rule_set_hash(self) -> str | None:
        return None if self._loaded is None else self._loaded.hash

    def load(self) -> None:
        """Read and validate the files now; NotConformant (the last good rules kept) when they are refused."""
        seen = fingerprint(self.rules_dir)
        issues, loaded = check(load_asking_rules(self.rules_dir))
        with self._lock:
            self._seen = seen
            if loaded is None:
                raise NotConformant(
                    f"this node's rules on asking are refused ({len(issues)} problems); the last good ones stay",
                    issues=issues,
                )
            self._loaded = loaded

    def decide(self, asking: Asking, targets: Sequence[Target]) -> list[AskDecision]:
        if fingerprint(self.rules_dir) != self._seen:
            try:
                self.load()
            except MaisError as exc:
                log.error("rules on asking not reloaded: %s", exc.diagnostics)
        loaded = self._loaded
        if loaded is None:
            raise Unavailable("this node has no valid rules on asking: no partner is asked")
        principal = {"type": "Node", "id": asking.node_ods}
        context = {
            "purpose": asking.purpose,
            "items": sorted(asking.items),
            "client": asking.client,
            "area": asking.area or "",
            "named": asking.named,
        }
        entities = [{"uid": principal, "attrs": {"type": asking.node_type}, "parents": []}]
        entities += [
            {"uid": {"type": "Partner", "id": t.ods}, "attrs": {"type": t.type, "areas": list(t.areas)}, "parents": []}
            for t in {t.ods: t for t in targets}.values()
        ]
        batch = [
            {
                "principal": principal,
                "action": {"type": "Action", "id": "ask"},
                "resource": {"type": "Partner", "id": t.ods},
                "context": context,
            }
            for t in targets
        ]
        results = cedarpy.is_authorized_batch(batch, loaded.policies, json.dumps(entities), schema=loaded.schema)
        return [_decision(result) for result in results]


def _decision(result: cedarpy.AuthzResult) -> AskDecision:
    if result.diagnostics.errors:  # a rule that failed may have been a forbid meant to apply: do not ask
        return AskDecision(False, (EVALUATION_ERROR,))
    named = result.diagnostics.id_annotations_by_reason
    rule_ids = tuple(dict.fromkeys(named.get(reason, reason) for reason in result.diagnostics.reasons))
    if result.allowed:
        return AskDecision(True, rule_ids)
    return AskDecision(False, rule_ids or (DEFAULT_DENY,))

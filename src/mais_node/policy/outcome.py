"""From two authorisation answers to one item decision: PERMIT, REVIEW or DENY (DESIGN §6; issue 5 §3).

For each requested item an engine asks whether the node may answer it automatically (the item's action) and
whether it may refer it for review (its ``refer-`` action). Both engines, Cedar and the fake, combine the two
answers here, so they report outcomes and rule ids the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from mais_node.policy.model import Item, ItemDecision, Outcome

DEFAULT_DENY = "default-deny"
EVALUATION_ERROR = "evaluation-error"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One authorisation answer: if allowed, the permits that fired; if not, the forbids that fired (if any)."""

    allowed: bool
    rule_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def combine(item: Item, answer: Evaluation, refer: Evaluation) -> ItemDecision:
    """PERMIT if the item may be answered, else REVIEW if it may be referred, else DENY.

    An evaluation that erred denies the item: the rule that failed may have been a forbid meant to apply.
    """
    errors = _unique(answer.errors + refer.errors)
    if errors:
        failures = tuple(f"rule evaluation failed: {error}" for error in errors)
        return ItemDecision(item, Outcome.DENY, (EVALUATION_ERROR,), failures)
    if answer.allowed:
        return ItemDecision(
            item, Outcome.PERMIT, answer.rule_ids, tuple(f"permitted by {rule}" for rule in answer.rule_ids)
        )
    if refer.allowed:
        return ItemDecision(
            item,
            Outcome.REVIEW,
            _unique(answer.rule_ids + refer.rule_ids),
            tuple(f"automatic answer forbidden by {rule}" for rule in answer.rule_ids)
            + tuple(f"referred for review by {rule}" for rule in refer.rule_ids),
        )
    forbids = _unique(answer.rule_ids + refer.rule_ids)
    if forbids:
        return ItemDecision(item, Outcome.DENY, forbids, tuple(f"forbidden by {rule}" for rule in forbids))
    return ItemDecision(item, Outcome.DENY, (DEFAULT_DENY,), ("no rule permits or refers this item (default deny)",))


def _unique(rule_ids: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(rule_ids))

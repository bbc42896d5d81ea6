"""The review queue (DESIGN §3, issue 5 §7): a referred enquiry waits as an on-hold Task; an IG officer decides
permit or deny with a reason; the answer is then released on the Task. Every decision is audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mais_node.enquiry.model import Asker
from mais_node.enquiry.parse import from_task
from mais_node.enquiry.respond import DECISION_SYSTEM, REQUESTER_TAG, answer_task
from mais_node.errors import InvalidRequest, VersionConflict
from mais_node.policy import Decision, Item, ItemDecision, Outcome
from mais_node.storage.port import Stored
from mais_node.terminology import REQUEST_TYPE_SYSTEM

if TYPE_CHECKING:
    from mais_node.auth.bearer import Caller
    from mais_node.wiring import Services


def _code(concept: Any, system: str) -> str | None:
    for coding in (concept or {}).get("coding") or []:
        if coding.get("system") == system:
            return str(coding.get("code"))
    return None


def pending_decision(task: dict[str, Any]) -> Decision:
    """The per-item decisions written on an on-hold Task's outputs."""
    items = []
    for output in task.get("output") or []:
        item = _code(output.get("type"), REQUEST_TYPE_SYSTEM)
        outcome = _code(output.get("valueCodeableConcept"), DECISION_SYSTEM)
        if item in {i.value for i in Item} and outcome in ("permit", "deny", "review"):
            items.append(ItemDecision(Item(item), Outcome(outcome.upper()), ()))
    return Decision(tuple(items), "pending-review")


def _parameter(body: dict[str, Any], name: str) -> str | None:
    for parameter in body.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == name:
            value = parameter.get("valueCode") or parameter.get("valueString")
            return value if isinstance(value, str) else None
    return None


def decide_review(services: Services, task_id: str, body: dict[str, Any], reviewer: Caller) -> Stored:
    """Apply a reviewer's Parameters (``decision`` permit | deny, ``reason``) to a referred enquiry Task."""
    decision, reason = _parameter(body, "decision"), _parameter(body, "reason")
    if decision not in ("permit", "deny"):
        raise InvalidRequest("'decision' must be permit or deny", expression=("decision",))
    if not reason:
        raise InvalidRequest("A review decision needs a 'reason'", expression=("reason",))
    stored = services.resources.read("Task", task_id)
    task = stored.body
    if task.get("status") != "on-hold":
        raise VersionConflict(f"Task/{task_id} is not awaiting review (status {task.get('status')})")
    requester_ods = next(
        (t.get("code", "") for t in (task.get("meta") or {}).get("tag", []) if t.get("system") == REQUESTER_TAG), ""
    )
    enquiry = from_task(task, orjson.dumps(task))
    answer = services.enquiries.review(
        enquiry,
        pending_decision(task),
        permit=decision == "permit",
        reason=reason,
        reviewer=Asker(reviewer.org_ods, reviewer.client_id),
        requester=Asker(requester_ods, ""),
    )
    answered = answer_task(
        task, answer.decision, answer if answer.grade is not None else None, services.settings.node_org, requester_ods
    )
    answered["id"] = task_id
    return services.resources.update("Task", task_id, answered, if_match=stored.version).stored

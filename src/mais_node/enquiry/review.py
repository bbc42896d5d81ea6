"""The review queue (DESIGN §3, issue 5 §7): a referred enquiry waits as an on-hold Task; an IG officer decides
permit or deny with a reason; the answer is then released on the Task. Every decision is audited."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from mais_node.enquiry.model import Answer, Asker
from mais_node.enquiry.parse import from_task
from mais_node.enquiry.respond import DECISION_SYSTEM, REQUESTER_TAG, answer_task
from mais_node.errors import AuditUnavailable, InvalidRequest, MaisError, VersionConflict
from mais_node.fhir.service import ResourceService
from mais_node.policy import Decision, Item, ItemDecision, Outcome
from mais_node.storage.port import Stored
from mais_node.terminology import REQUEST_TYPE_SYSTEM

if TYPE_CHECKING:
    from mais_node.auth.bearer import Caller
    from mais_node.wiring import Services

log = logging.getLogger("mais_node.enquiry")


class TaskKeeper:
    """Writes the Task that carries an enquiry's answer when the enquiry service asks (its ``keep``), that is before
    the enquiry's records are written, so the trail records a failure to write it (issue 13 item 9). ``withdraw``
    takes the Task back when the records then could not be written: the trail is the truth of what was answered."""

    def __init__(
        self,
        resources: ResourceService,
        build: Callable[[Decision, Answer | None], dict[str, Any] | None],
        *,
        current: Stored | None = None,
        structure_checked: bool = False,
    ) -> None:
        """``build``: the Task for a decision (None: nothing to keep); ``current``: the Task it answers in place."""
        self.resources, self.build, self.current, self.structure_checked = resources, build, current, structure_checked
        self.stored: Stored | None = None

    def __call__(self, decision: Decision, answer: Answer | None) -> None:
        body = self.build(decision, answer)
        if body is None:
            return
        if self.current is None:
            self.stored = self.resources.create("Task", body, structure_checked=self.structure_checked).stored
        else:
            body = {**body, "id": self.current.id}
            self.stored = self.resources.update("Task", self.current.id, body, if_match=self.current.version).stored

    def withdraw(self) -> None:
        """Best effort: delete the Task written (or set the answered one back); the store may be failing too."""
        stored, self.stored = self.stored, None
        if stored is None:
            return
        try:
            if self.current is None:
                self.resources.delete("Task", stored.id)
            else:
                self.resources.update("Task", stored.id, self.current.body, if_match=stored.version)
        except MaisError:
            log.error("Task/%s was written but its audit records were not, and it could not be taken back", stored.id)


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

    def answered(decided: Decision, answer: Answer | None) -> dict[str, Any]:
        released = answer if answer is not None and answer.grade is not None else None
        return answer_task(task, decided, released, services.settings.node_org, requester_ods)

    keeper = TaskKeeper(services.resources, answered, current=stored)
    try:
        services.enquiries.review(
            enquiry,
            pending_decision(task),
            permit=decision == "permit",
            reason=reason,
            reviewer=Asker(reviewer.org_ods, reviewer.client_id),
            requester=Asker(requester_ods, ""),
            keep=keeper,
        )
    except AuditUnavailable:
        keeper.withdraw()
        raise
    assert keeper.stored is not None
    return keeper.stored

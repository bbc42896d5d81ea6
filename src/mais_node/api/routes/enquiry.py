"""The enquiry over HTTP: the MAIS operation, the Task form, the what-if evaluation, ``$match`` and review.

Thin: each route reads the body, names the caller, and calls the enquiry service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from mais_node.api.deps import services_of
from mais_node.api.media import check_accept, check_content_type, fhir_response, parse_json, raw_response, read_resource
from mais_node.api.security import require_scope
from mais_node.auth.bearer import Caller
from mais_node.auth.scopes import ENQUIRY, REVIEWER
from mais_node.enquiry.model import Answer, Asker, Enquiry
from mais_node.enquiry.parse import from_parameters, from_task
from mais_node.enquiry.persons import match_bundle
from mais_node.enquiry.respond import answer_task, task_for, to_parameters
from mais_node.enquiry.review import TaskKeeper, decide_review
from mais_node.enquiry.service import NotPermitted
from mais_node.errors import AuditUnavailable, InvalidRequest
from mais_node.policy import Decision, Outcome
from mais_node.wiring import Services

router = APIRouter(prefix="/fhir")
# POST /fhir/Task is the enquiry's Task form: included before the generic create of api/routes/rest.py.
task_router = APIRouter(prefix="/fhir")


def _accepting(*any_of: str) -> Callable[[Request], Awaitable[Caller]]:
    """The one dependency of these routes: a JSON ``Accept`` (406), then the caller when its token carries one of
    ``any_of`` (401, 429, 403). One dependency, not three, because FastAPI's resolving each costs on every enquiry;
    the routes take the services with ``services_of`` for the same reason."""
    scoped = require_scope(*any_of)

    async def dependency(request: Request) -> Caller:
        await check_accept(request)
        return await scoped(request)

    return dependency


EnquirerDep = Annotated[Caller, Depends(_accepting(ENQUIRY, "system/Task.crs"))]
ReviewerDep = Annotated[Caller, Depends(_accepting(REVIEWER))]


def _asker(caller: Caller, request: Request) -> Asker:
    return Asker(caller.org_ods, caller.client_id, request.client.host if request.client else None)


def _task_location(services: Services, stored_id: str, version: int) -> dict[str, str]:
    """``Location`` names the version created (R4 create); ``Content-Location`` the Task itself, the address to poll:
    it shows the IG officer's decision once taken, where the version created stays on-hold for ever."""
    task = f"{services.settings.fhir_base}/Task/{stored_id}"
    return {"Location": f"{task}/_history/{version}", "Content-Location": task, "ETag": f'W/"{version}"'}


async def _answer(services: Services, enquiry: Enquiry, asker: Asker, keeper: TaskKeeper) -> Answer | None:
    """The enquiry answered, its Task kept before its records are written (None: refused by the rules)."""
    try:
        return await services.enquiries.answer(enquiry, asker, keep=keeper)
    except NotPermitted:
        return None
    except AuditUnavailable:
        keeper.withdraw()
        raise


@router.post("/Patient/$person-info-query")
async def person_info_query(request: Request, caller: EnquirerDep) -> Response:
    services = services_of(request)
    check_content_type(request)
    raw = await request.body()
    subject_issues = services.enquiries.gates.subject_issues
    enquiry = services.enquiries.read(
        raw, lambda: from_parameters(parse_json(raw), raw, subject_issues=subject_issues), _asker(caller, request)
    )

    def referral(decision: Decision, answer: Answer | None) -> dict[str, Any] | None:
        """The Task that waits for an IG officer's decision (DESIGN §3: REVIEW answers "referred")."""
        if decision.outcome is not Outcome.REVIEW:
            return None
        authored = services.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        task = task_for(enquiry, authored)  # new here and held nowhere else: answered without a copy
        return answer_task(task, decision, None, services.settings.node_org, caller.org_ods, built_here=True)

    # The Task is ``task_for`` an enquiry that passed the gates; tests/unit/enquiry/test_respond.py proves every such
    # Task passes the R4 structure check, so it is not paid for again (~0.3 ms per referral).
    keeper = TaskKeeper(services.resources, referral, structure_checked=True)
    try:
        answer = await services.enquiries.answer(enquiry, _asker(caller, request), keep=keeper)
    except AuditUnavailable:
        keeper.withdraw()
        raise
    if keeper.stored is not None:
        stored = keeper.stored
        return raw_response(stored.json, 202, _task_location(services, stored.id, stored.version))
    return fhir_response(to_parameters(answer))


@task_router.post("/Task")
async def task_enquiry(request: Request, caller: EnquirerDep) -> Response:
    services = services_of(request)
    check_content_type(request)
    raw = await request.body()
    body: dict[str, Any] = {}

    def parse() -> Enquiry:
        body.update(parse_json(raw))
        if body.get("resourceType") != "Task":
            raise InvalidRequest("The body must be a Task", expression=("resourceType",))
        return from_task(body, raw, task_issues=services.enquiries.gates.task_issues)

    enquiry = services.enquiries.read(raw, parse, _asker(caller, request))

    def answered(decision: Decision, answer: Answer | None) -> dict[str, Any]:
        return answer_task(body, decision, answer, services.settings.node_org, caller.org_ods)

    keeper = TaskKeeper(services.resources, answered)
    await _answer(services, enquiry, _asker(caller, request), keeper)
    stored = keeper.stored
    assert stored is not None  # every decision is kept on the Task
    return raw_response(stored.json, 201, _task_location(services, stored.id, stored.version))


@router.post("/Patient/$what-if")
async def what_if(request: Request, caller: ReviewerDep) -> Response:
    """Decide an enquiry without matching or answering: the decision per item and the rules that took it.

    The body is the ``$person-info-query`` Parameters; its ``requester`` names the organisation to decide for."""
    services = services_of(request)
    check_content_type(request)
    raw = await request.body()
    subject_issues = services.enquiries.gates.subject_issues
    enquiry = services.enquiries.read(
        raw, lambda: from_parameters(parse_json(raw), raw, subject_issues=subject_issues), _asker(caller, request)
    )
    # "What if organisation X asked this?": the requester parameter names X (the reviewer's own by default).
    decided = services.enquiries.what_if(enquiry, Asker(enquiry.requester_ods or caller.org_ods, caller.client_id))
    parameters: list[dict[str, Any]] = [{"name": "outcome", "valueCode": decided.decision.outcome.value.lower()}]
    for item in decided.decision:
        part = [
            {"name": "item", "valueCode": str(item.item)},
            {"name": "outcome", "valueCode": item.outcome.value.lower()},
        ]
        part += [{"name": "rule", "valueString": rule} for rule in item.rule_ids]
        part += [{"name": "reason", "valueString": reason} for reason in item.reasons]
        parameters.append({"name": "decision", "part": part})
    parameters.append({"name": "ruleSet", "valueString": decided.decision.rule_set_hash})
    return fhir_response({"resourceType": "Parameters", "parameter": parameters})


@router.post("/Patient/$match")
async def patient_match(request: Request, caller: ReviewerDep) -> Response:
    """FHIR R4 ``Patient/$match`` for reviewers: candidates from the person index with their grade and score."""
    services = services_of(request)
    body = await read_resource(request)
    parameters = body.get("parameter")
    patient = next(
        (
            p.get("resource")
            for p in (parameters if isinstance(parameters, list) else [])
            if isinstance(p, dict) and p.get("name") == "resource"
        ),
        body if body.get("resourceType") == "Patient" else None,
    )
    if not isinstance(patient, dict):
        raise InvalidRequest("Give the Patient to match in a 'resource' parameter", expression=("resource",))
    return fhir_response(match_bundle(services.persons, patient, services.settings.fhir_base))


@router.post("/Task/{task_id}/$review")
async def review(task_id: str, request: Request, caller: ReviewerDep) -> Response:
    """An IG officer decides a referred enquiry: ``decision`` permit | deny and a ``reason``; the answer is released."""
    services = services_of(request)
    body = await read_resource(request)
    stored = decide_review(services, task_id, body, caller)
    return raw_response(stored.json, 200, {"ETag": f'W/"{stored.version}"'})

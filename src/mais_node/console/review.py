"""The review queue (issue 16 §3): referred enquiries oldest first; one enquiry beside its candidates; decide.

A decision goes through ``enquiry.review.decide_review``, the service ``Task/$review`` uses, so the requester's
Task is answered at once and the review is audited as one from the REST API is; the console adds its own record
with the person as the agent. Opening the queue or an enquiry shows personal data, so each is audited too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from mais_node.audit import balp
from mais_node.audit.query import parse_audit_query
from mais_node.auth.bearer import Caller
from mais_node.auth.scopes import REVIEWER
from mais_node.console import review_view
from mais_node.console.web import Console, ConsoleDep, FormDep, PageRefused, Visit, needs, render
from mais_node.enquiry.persons import match_bundle
from mais_node.enquiry.review import decide_review
from mais_node.errors import MaisError, NotFound
from mais_node.matching import MATCH_GRADE_EXTENSION
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import Stored

router = APIRouter(prefix="/console/reviews", include_in_schema=False)
QUEUE_SIZE = 50
MAX_REASON = 2000
ReviewerDep = Annotated[Visit, needs(REVIEWER)]


def _instant(stored: Stored) -> datetime:
    return datetime.fromisoformat(fhir_instant(stored.last_updated).replace("Z", "+00:00"))


def _audit(console: Console, visit: Visit, action: str, target: str, detail: str = "") -> None:
    actor = console.person_actor(visit.person, address=visit.address)
    now = console.services.clock.now()
    console.record(balp.console_action(console.services.node, now, actor, action=action, target=target, detail=detail))


@router.get("")
async def queue(request: Request, console: ConsoleDep, visit: ReviewerDep, decided: str = "") -> Response:
    services = console.services
    pairs = [("status", "on-hold"), ("_sort", "_lastUpdated"), ("_count", str(QUEUE_SIZE))]
    result = services.resources.search("Task", pairs)
    now = services.clock.now()
    referrals = [review_view.referral(s.body, s.id, s.version, _instant(s), now) for s in result.page.items]
    _audit(console, visit, "review-queue", "Task?status=on-hold", detail=f"{len(referrals)} shown")
    return render(
        request,
        "reviews.html",
        visit=visit,
        referrals=referrals,
        more=result.page.next_after is not None,
        decided=decided[:64],
    )


def _referral(console: Console, task_id: str) -> tuple[Stored, review_view.Referral]:
    services = console.services
    try:
        stored = services.resources.read("Task", task_id)
    except MaisError as exc:
        raise PageRefused(404, "No such enquiry", "This enquiry is not known to the node.") from exc
    now = services.clock.now()
    view = review_view.referral(stored.body, stored.id, stored.version, _instant(stored), now)
    return stored, view


def _rules(console: Console, view: review_view.Referral) -> tuple[tuple[str, str, str], ...]:
    """Each item's decision and the rules that took it when the enquiry came in, from the audit trail (the rules
    in force now may differ), found through the audit query service the REST search uses."""
    services = console.services
    base = services.node.canonical_base
    query = parse_audit_query(
        [
            ("entity", f"{base}/Id/enquiry|{view.request_id}"),
            ("subtype", f"{base}/CodeSystem/audit-event-subtype|decision"),
        ]
    )
    rows = []
    for record in services.audit.search(query).records:
        codes = [str(c.get("code")) for c in record.event.get("subtype") or []]
        rules = [
            str(e["what"]["identifier"]["value"])
            for e in record.event.get("entity") or []
            if (e.get("what") or {}).get("identifier", {}).get("system") == f"{base}/Id/rule"
        ]
        item, outcome = (codes[2], codes[1]) if len(codes) >= 3 else ("", "")
        rows.append((item, outcome.upper(), ", ".join(rules) or "(no rule: the default)"))
    return tuple(rows)


def _candidates(console: Console, stored: Stored, view: review_view.Referral) -> tuple[review_view.Candidate, ...]:
    services = console.services
    subject = next((r for r in stored.body.get("contained") or [] if r.get("id") == "subject"), None)
    if not isinstance(subject, dict):
        return ()
    bundle = match_bundle(services.persons, subject, services.settings.fhir_base)
    out = []
    for entry in bundle["entry"][:5]:
        search = entry["search"]
        grade = next((e["valueCode"] for e in search["extension"] if e["url"] == MATCH_GRADE_EXTENSION), "")
        out.append(review_view.candidate(view.subject, entry["resource"], float(search["score"]), grade))
    return tuple(out)


def _page(
    request: Request,
    console: Console,
    visit: Visit,
    task_id: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    stored, view = _referral(console, task_id)
    waiting = stored.body.get("status") == "on-hold"
    if waiting:
        view = replace(view, rules=_rules(console, view), candidates=_candidates(console, stored, view))
    _audit(console, visit, "review-opened", f"Task/{task_id}")
    return render(
        request,
        "review.html",
        status=status,
        visit=visit,
        referral=view,
        waiting=waiting,
        task_status=str(stored.body.get("status") or ""),
        errors=errors or {},
        form=form or {},
    )


@router.get("/{task_id}")
async def enquiry(task_id: str, request: Request, console: ConsoleDep, visit: ReviewerDep) -> Response:
    return _page(request, console, visit, task_id)


@router.post("/{task_id}")
async def decide(task_id: str, request: Request, console: ConsoleDep, visit: ReviewerDep, form: FormDep) -> Response:
    decision, reason = form.get("decision", ""), form.get("reason", "").strip()
    errors = {}
    if decision not in ("permit", "deny"):
        errors["decision"] = "Select permit or deny"
    if not reason:
        errors["reason"] = "Enter the reason for the decision"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"The reason must be {MAX_REASON} characters or fewer"
    if errors:
        return _page(request, console, visit, task_id, errors=errors, form=form, status=400)
    session, person = visit.session, visit.person
    # The person decides as the node's own organisation; the client id names them, so the REST API's review
    # record and the released answer say who decided.
    reviewer = Caller(
        f"console:{person.name}",
        console.services.settings.node_org,
        person.scopes,
        session.key[:16],
        int(session.expires),
    )
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "decision", "valueCode": decision}, {"name": "reason", "valueString": reason}],
    }
    try:
        decide_review(console.services, task_id, body, reviewer)
    except NotFound as exc:
        raise PageRefused(404, "No such enquiry", "This enquiry is not known to the node.", visit) from exc
    except MaisError as exc:
        raise PageRefused(409, "This enquiry cannot be decided", exc.diagnostics, visit) from exc
    _audit(console, visit, "review-decided", f"Task/{task_id}", detail=f"{decision}: {reason}")
    return RedirectResponse(f"/console/reviews?decided={task_id}", status_code=303)

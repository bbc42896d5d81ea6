"""The single view for a practitioner (issue 16 §7, issue 15): the form, and the rows filling in as partners answer.

The form builds the ``$single-view`` Parameters (``mais_node.client``, as ``mais single-view`` does) and starts the
view through ``begin_single_view``, the one start ``POST /fhir/Patient/$single-view`` uses: the node's own
organisation asks, the console is the client, the signed-in person the user. The asking runs in the background
(``Prefer: respond-async``) and the person is sent to the view's page, whose rows fill in: a Refresh link without
JavaScript, ``single-view.js`` polling ``…/rows`` with it. Who started a view is read from the view's own record in
the audit trail, so a practitioner opens only their own (anyone else's is a 404, as an unknown one is); every page
showing a view or the list is audited with the person as the agent.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from mais_node.audit import balp
from mais_node.audit.actors import Actor
from mais_node.audit.port import AuditRecord
from mais_node.audit.query import parse_audit_query
from mais_node.auth.scopes import SINGLE_VIEW
from mais_node.client import Subject, User, enquiry_parameters
from mais_node.console import single_view_view
from mais_node.console.people import ROLE_NAMES
from mais_node.console.web import Console, ConsoleDep, FormDep, PageRefused, Visit, needs, render
from mais_node.console.what_if import ITEMS, purposes
from mais_node.enquiry.model import Asker
from mais_node.errors import MaisError, Unavailable
from mais_node.wiring_single_view import begin_single_view

router = APIRouter(prefix="/console/single-view", include_in_schema=False)
PractitionerDep = Annotated[Visit, needs(SINGLE_VIEW)]
RECENT = 10
DEFAULT_ITEMS = ["is-known", "is-open", "contact"]
_VIEW_ID = re.compile(r"^[0-9a-f]{32}$")


def _actor(console: Console, visit: Visit) -> Actor:
    """The person asks as the node's own organisation, through the console (the client id names them)."""
    actor = console.person_actor(visit.person, address=visit.address)
    return replace(actor, client_id=f"console:{visit.person.name}")


def _audit(console: Console, visit: Visit, action: str, target: str, detail: str = "") -> None:
    actor = console.person_actor(visit.person, address=visit.address)
    now = console.services.clock.now()
    console.record(balp.console_action(console.services.node, now, actor, action=action, target=target, detail=detail))


def _started(console: Console, visit: Visit, *more: tuple[str, str]) -> list[AuditRecord]:
    """The records of the single views this person started (newest first), narrowed by ``more``."""
    actor = console.person_actor(visit.person)
    base = console.services.node.canonical_base
    pairs = [
        ("subtype", f"{base}/CodeSystem/audit-event-subtype|single-view"),
        ("agent:identifier", f"{actor.user_system}|{actor.user_id}"),
        ("_sort", "-date"),
        *more,
    ]
    return console.services.audit.search(parse_audit_query(pairs)).records


def _view_entity(console: Console, record: AuditRecord) -> dict[str, Any]:
    system = f"{console.services.node.canonical_base}/Id/single-view"
    return next(
        (
            e
            for e in record.event.get("entity") or []
            if (e.get("what") or {}).get("identifier", {}).get("system") == system
        ),
        {},
    )


def _own_view(console: Console, visit: Visit, view_id: str) -> tuple[single_view_view.ViewPage, int]:
    """The person's own view as a page, and its version; the 404 page for anyone else's or an unknown one."""
    base = console.services.node.canonical_base
    records = (
        _started(console, visit, ("entity:identifier", f"{base}/Id/single-view|{view_id}"))
        if _VIEW_ID.match(view_id)
        else []
    )
    if not records:
        raise PageRefused(404, "No such single view", "You have not started a single view at this address.", visit)
    detail = {d.get("type"): d.get("valueString") for d in _view_entity(console, records[0]).get("detail") or []}
    try:
        stored = console.services.resources.read("Task", view_id)
    except MaisError as exc:
        raise PageRefused(404, "No such single view", "This single view is no longer held by the node.", visit) from exc
    asked = int(detail.get("asked") or 0)
    return single_view_view.page(stored.body, stored.version, asked), stored.version


def _recent(console: Console, visit: Visit) -> list[single_view_view.ViewPage]:
    views = []
    for record in _started(console, visit, ("_count", str(RECENT))):
        view_id = str((_view_entity(console, record).get("what") or {}).get("identifier", {}).get("value") or "")
        try:
            stored = console.services.resources.read("Task", view_id)
        except MaisError:
            continue  # a view the store no longer holds is not listed
        views.append(single_view_view.page(stored.body, stored.version, 0))
    if views:
        _audit(console, visit, "single-view-list", "Task?code=single-view", detail=f"{len(views)} shown")
    return views


def _form(request: Request, console: Console, visit: Visit, *, status: int = 200, **view: Any) -> Response:
    defaults: dict[str, Any] = {"form": {}, "items": DEFAULT_ITEMS, "errors": {}}
    return render(
        request,
        "single_view_form.html",
        status=status,
        visit=visit,
        purposes=purposes(console),
        all_items=ITEMS,
        recent=_recent(console, visit),
        **(defaults | view),
    )


@router.get("")
async def form(request: Request, console: ConsoleDep, visit: PractitionerDep) -> Response:
    return _form(request, console, visit)


@router.post("")
async def start(request: Request, console: ConsoleDep, visit: PractitionerDep, form: FormDep) -> Response:
    items = [i for i in (await request.form()).getlist("items") if isinstance(i, str) and i in ITEMS]
    services, person = console.services, visit.person
    today = services.clock.now().date()
    asked = single_view_view.checked(form, items, {code for code, _ in purposes(console)}, today)
    if isinstance(asked, dict):
        return _form(request, console, visit, status=400, form=form, items=items, errors=asked)
    actor = _actor(console, visit)
    subject = Subject(asked.nhs_number, asked.family, asked.given, asked.birth_date, asked.postcode)
    user = User(person.name, person.display_name or None, ROLE_NAMES[person.role], system=actor.user_system)
    parameters = enquiry_parameters(subject, asked.purpose, list(asked.items), [], user)
    parameters["parameter"] += [{"name": "target", "valueString": t} for t in asked.targets]
    if asked.area:
        parameters["parameter"].append({"name": "area", "valueCode": asked.area})
    asker = Asker(services.settings.node_org, actor.client_id or "console", visit.address)
    try:
        begun = begin_single_view(services, orjson.dumps(parameters), asker, actor)
    except MaisError as exc:  # refused by the same reader as the REST operation (and audited there): nothing started
        status = 503 if isinstance(exc, Unavailable) else 400
        errors = {"nhs_number": exc.diagnostics}
        return _form(request, console, visit, status=status, form=form, items=items, errors=errors)
    begun.views.spawn(begun.ask())
    _audit(console, visit, "single-view-started", f"Task/{begun.view.id}", detail=asked.purpose)
    return RedirectResponse(f"/console/single-view/{begun.view.id}", status_code=303)


@router.get("/{view_id}")
async def view(view_id: str, request: Request, console: ConsoleDep, visit: PractitionerDep) -> Response:
    page, _ = _own_view(console, visit, view_id)
    _audit(console, visit, "single-view-opened", f"Task/{view_id}", detail=f"version {page.version}")
    return render(request, "single_view.html", visit=visit, view=page)


@router.get("/{view_id}/rows")
async def rows(view_id: str, request: Request, console: ConsoleDep, visit: PractitionerDep, seen: str = "") -> Response:
    """The rows alone, for the page's script: 204 while the view is still the version the page shows."""
    page, version = _own_view(console, visit, view_id)
    if seen == str(version):
        return Response(status_code=204)
    _audit(console, visit, "single-view-opened", f"Task/{view_id}", detail=f"version {page.version}")
    return render(request, "single_view_rows.html", visit=visit, view=page)

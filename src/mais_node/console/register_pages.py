"""The register page (issue 16 §6): organisations and systems with their source, suspended and reactivated by an
administrator or IG officer through the same register services as ``mais org`` / ``mais client`` and the REST API.

A suspension is asked for first on a confirmation page (POST with the CSRF token) and only done from there. The
register service writes its own audit record with the person as the agent; a national entry is changed only as
the service allows (suspended here, or that lifted), and its refusal is shown in the service's own words.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from mais_node.auth.scopes import ADMIN, REVIEWER
from mais_node.console import register_view as view
from mais_node.console.web import Console, ConsoleDep, FormDep, PageRefused, Visit, needs, render
from mais_node.errors import MaisError

router = APIRouter(prefix="/console/register", include_in_schema=False)
KeeperDep = Annotated[Visit, needs(ADMIN, REVIEWER)]
KINDS = {"org": "organisation", "client": "system"}
ACTIONS = ("suspend", "reactivate")


def _target(console: Console, kind: str, key: str, visit: Visit) -> tuple[str, str]:
    """The entry's name for the page and its current status, or a 404 page."""
    auth = console.services.auth
    if kind == "org":
        org = auth.organisations.get(key)
        if org is not None:
            return f"{org.name} ({org.ods})", view.org_row(org).status
    elif kind == "client":
        client = auth.clients.get(key)
        if client is not None:
            return f"{client.client_id} of {client.org_ods}", view.client_row(client).status
    raise PageRefused(404, "Not in the register", "There is no such organisation or system in the register.", visit)


def _change(console: Console, visit: Visit, kind: str, key: str, action: str) -> None:
    auth = console.services.auth
    actor = console.person_actor(visit.person, address=visit.address)
    if kind == "org" and action == "suspend":
        auth.organisations.suspend(key, actor=actor)
    elif kind == "org":
        auth.organisations.activate(key, actor=actor)
    elif action == "suspend":
        auth.clients.revoke(key, actor=actor)
    else:
        auth.clients.reinstate(key, actor=actor)


def _page(
    request: Request, console: Console, visit: Visit, *, status: int = 200, done: str = "", problem: str = ""
) -> Response:
    auth = console.services.auth
    return render(
        request,
        "register.html",
        status=status,
        visit=visit,
        organisations=[view.org_row(o) for o in auth.organisations.list()],
        clients=[view.client_row(c) for c in auth.clients.list()],
        done=done,
        problem=problem,
    )


@router.get("")
async def listing(request: Request, console: ConsoleDep, visit: KeeperDep, done: str = "") -> Response:
    return _page(request, console, visit, done=done[:160])


def _checked(kind: str, action: str, visit: Visit) -> None:
    if kind not in KINDS or action not in ACTIONS:
        raise PageRefused(404, "Page not found", "There is no such register action.", visit)


@router.post("/{kind}/{key}/confirm")
async def confirm(
    kind: str, key: str, request: Request, console: ConsoleDep, visit: KeeperDep, form: FormDep
) -> Response:
    """The "are you sure" step before a suspension: nothing is changed here."""
    _checked(kind, "suspend", visit)
    name, status = _target(console, kind, key, visit)
    return render(
        request, "register_confirm.html", visit=visit, kind=kind, what=KINDS[kind], key=key, name=name, now=status
    )


@router.post("/{kind}/{key}/{action}")
async def change(
    kind: str, key: str, action: str, request: Request, console: ConsoleDep, visit: KeeperDep, form: FormDep
) -> Response:
    _checked(kind, action, visit)
    name, _ = _target(console, kind, key, visit)
    if action == "suspend" and form.get("confirmed") != "yes":
        raise PageRefused(400, "This form cannot be accepted", "A suspension must be confirmed first.", visit)
    try:
        _change(console, visit, kind, key, action)
    except MaisError as exc:
        return _page(request, console, visit, status=400, problem=exc.diagnostics)
    said = f"{name} {'suspended' if action == 'suspend' else 'reactivated'}"
    return RedirectResponse(f"/console/register?{urlencode({'done': said})}", status_code=303)

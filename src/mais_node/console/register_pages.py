"""The register page (issue 16 §6): organisations and systems with their source, suspended and reactivated by an
administrator or IG officer through the same register services as ``mais org`` / ``mais client`` and the REST API.

Sharing policies are listed, held (a MAIS SharingPolicy document pasted in) and retired through the same service as
``mais sharing-policy`` (``mais_node.sharing_policies``); each change is audited with the person as the agent.

A suspension or a retirement is asked for first on a confirmation page (POST with the CSRF token) and only done
from there. The register service writes its own audit record with the person as the agent; a national entry is
changed only as the service allows (suspended here, or that lifted), and its refusal is shown in the service's own
words.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from mais_node import sharing_policies
from mais_node.audit import balp
from mais_node.auth.scopes import ADMIN, REVIEWER
from mais_node.console import register_view as view
from mais_node.console.web import Console, ConsoleDep, FormDep, PageRefused, Visit, needs, render
from mais_node.errors import MaisError, NotConformant

router = APIRouter(prefix="/console/register", include_in_schema=False)
KeeperDep = Annotated[Visit, needs(ADMIN, REVIEWER)]
KINDS = {"org": "organisation", "client": "system", "policy": "sharing policy"}
# What each kind of entry may have done to it, and the action that is confirmed first.
ACTIONS = {"org": ("suspend", "reactivate"), "client": ("suspend", "reactivate"), "policy": ("retire",)}
CONFIRMED = {"org": "suspend", "client": "suspend", "policy": "retire"}
DONE = {"suspend": "suspended", "reactivate": "reactivated", "retire": "retired"}
DOCUMENT_CHARS = 256 * 1024


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
    elif kind == "policy":
        for entry in sharing_policies.held(console.services):
            if entry.policy.identifier == key and entry.state == "in force":
                return f"{entry.policy.name} ({entry.policy.identifier})", entry.state
    raise PageRefused(404, "Not in the register", "There is no such organisation or system in the register.", visit)


def _change(console: Console, visit: Visit, kind: str, key: str, action: str) -> None:
    auth = console.services.auth
    actor = console.person_actor(visit.person, address=visit.address)
    if kind == "org" and action == "suspend":
        auth.organisations.suspend(key, actor=actor)
    elif kind == "org":
        auth.organisations.activate(key, actor=actor)
    elif kind == "policy":
        sharing_policies.retire(console.services, key, actor=actor)
    elif action == "suspend":
        auth.clients.revoke(key, actor=actor)
    else:
        auth.clients.reinstate(key, actor=actor)


def _audit(console: Console, visit: Visit, action: str, target: str, detail: str, outcome: str = "0") -> None:
    actor = console.person_actor(visit.person, address=visit.address)
    now = console.services.clock.now()
    console.record(
        balp.console_action(
            console.services.node, now, actor, action=action, target=target, outcome=outcome, detail=detail
        )
    )


def _page(
    request: Request,
    console: Console,
    visit: Visit,
    *,
    status: int = 200,
    done: str = "",
    problem: str = "",
    errors: list[str] | None = None,
    document: str = "",
) -> Response:
    auth = console.services.auth
    return render(
        request,
        "register.html",
        status=status,
        visit=visit,
        organisations=[view.org_row(o) for o in auth.organisations.list()],
        clients=[view.client_row(c) for c in auth.clients.list()],
        policies=[view.policy_row(p) for p in sharing_policies.held(console.services)],
        done=done,
        # The error summary: the service's refusal of a change, or each problem of a document (linked to its field).
        problems=[("main-content", problem)] if problem else [("document", e) for e in errors or []],
        errors=errors or [],
        document=document,
    )


@router.get("")
async def listing(request: Request, console: ConsoleDep, visit: KeeperDep, done: str = "") -> Response:
    return _page(request, console, visit, done=done[:160])


@router.post("/policies")
async def hold(request: Request, console: ConsoleDep, visit: KeeperDep, form: FormDep) -> Response:
    """Hold a sharing policy pasted in as a MAIS SharingPolicy document (JSON); refused whole, with every problem."""
    text = form.get("document", "")
    if not text.strip():
        return _page(request, console, visit, status=400, errors=["Enter a MAIS SharingPolicy document (JSON)"])
    if len(text) > DOCUMENT_CHARS:
        return _page(request, console, visit, status=400, errors=["The document is too long"], document="")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _page(request, console, visit, status=400, errors=["The document is not JSON"], document=text)
    try:
        actor = console.person_actor(visit.person, address=visit.address)
        policy, _ = sharing_policies.hold(console.services, document, actor=actor)
    except MaisError as exc:
        issues = exc.issues if isinstance(exc, NotConformant) else ()
        problems = [issue.diagnostics for issue in issues] or [exc.diagnostics]
        _audit(console, visit, "sharing-policy-add", "Contract", problems[0][:200], outcome="4")
        return _page(request, console, visit, status=400, errors=problems, document=text)
    said = f"{policy.identifier} version {policy.version} held"
    return RedirectResponse(f"/console/register?{urlencode({'done': said})}", status_code=303)


def _checked(kind: str, action: str, visit: Visit) -> None:
    if kind not in KINDS or action not in ACTIONS[kind]:
        raise PageRefused(404, "Page not found", "There is no such register action.", visit)


@router.post("/{kind}/{key}/confirm")
async def confirm(
    kind: str, key: str, request: Request, console: ConsoleDep, visit: KeeperDep, form: FormDep
) -> Response:
    """The "are you sure" step before a suspension or a retirement: nothing is changed here."""
    _checked(kind, CONFIRMED.get(kind, ""), visit)
    action = CONFIRMED[kind]
    name, status = _target(console, kind, key, visit)
    return render(
        request,
        "register_confirm.html",
        visit=visit,
        kind=kind,
        what=KINDS[kind],
        key=key,
        name=name,
        now=status,
        action=action,
    )


@router.post("/{kind}/{key}/{action}")
async def change(
    kind: str, key: str, action: str, request: Request, console: ConsoleDep, visit: KeeperDep, form: FormDep
) -> Response:
    _checked(kind, action, visit)
    name, _ = _target(console, kind, key, visit)
    if action == CONFIRMED[kind] and form.get("confirmed") != "yes":
        raise PageRefused(400, "This form cannot be accepted", f"To {action} it, confirm first.", visit)
    try:
        _change(console, visit, kind, key, action)
    except MaisError as exc:
        return _page(request, console, visit, status=400, problem=exc.diagnostics)
    said = f"{name} {DONE[action]}"
    return RedirectResponse(f"/console/register?{urlencode({'done': said})}", status_code=303)

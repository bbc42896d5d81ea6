"""Signing in and out of the console, and the home page (issue 16 §2).

The sign-in form has no session yet, so its CSRF token is a double-submit cookie; a successful sign-in starts a
new session (the token of any earlier one is ended, so a planted cookie never becomes a signed-in session). Every
sign-in, failed sign-in and sign-out is audited with the person as the agent.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from mais_node.audit import balp
from mais_node.console.accounts import SignInRefused
from mais_node.console.people import ROLE_NAMES
from mais_node.console.sessions import same
from mais_node.console.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Console,
    ConsoleDep,
    FormDep,
    VisitDep,
    error_page,
    render,
    safe_next,
)

router = APIRouter(prefix="/console", include_in_schema=False)
unknown = APIRouter(prefix="/console", include_in_schema=False)


def _set_cookie(console: Console, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=console.secure_cookies,
    )


@router.get("")
async def home(request: Request, visit: VisitDep) -> Response:
    person = visit.person
    work = []
    if person.may("mais/reviewer"):
        work.append(("Review queue", "/console/reviews", "Decide the enquiries the rules referred for review."))
        work.append(("What if", "/console/what-if", "Ask how the rules in force would decide an enquiry."))
    if person.may("system/AuditEvent.rs"):
        work.append(("Audit", "/console/audit", "Search and export the audit trail."))
    if person.may("mais/terminology-manager"):
        work.append(("Vocabularies", "/console/vocabularies", "Add, activate and retire codes; compare versions."))
    if person.may("mais/single-view"):
        work.append(("Single view", "/console/single-view", "Ask every partner that may know a child at once."))
    return render(request, "home.html", visit=visit, work=work, role=ROLE_NAMES[person.role])


@router.get("/sign-in")
async def sign_in_form(request: Request, console: ConsoleDep, next: str = "") -> Response:
    return _form(request, console, next_path=safe_next(next))


def _form(
    request: Request, console: ConsoleDep, *, next_path: str, error: str = "", name: str = "", status: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    oidc_name = console.oidc.config.name if console.oidc else ""
    response = render(
        request,
        "sign_in.html",
        status=status,
        csrf=token,
        next_path=next_path,
        error=error,
        name=name,
        oidc_name=oidc_name,
    )
    _set_cookie(console, response, SIGN_IN_COOKIE, token, max_age=3600)
    return response


@router.post("/sign-in")
async def sign_in(request: Request, console: ConsoleDep) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    next_path = safe_next(form.get("next"))
    address = request.client.host if request.client else None
    node, now = console.services.node, console.services.clock.now()
    name = form.get("name", "").strip().lower()
    if not same(request.cookies.get(SIGN_IN_COOKIE, ""), form.get("csrf", "")):
        actor = console.person_actor(None, name=name, address=address)
        console.record(
            balp.console_sign_in(node, now, actor, kind="login", outcome="4", reason="CSRF token missing or wrong")
        )
        return _form(
            request,
            console,
            next_path=next_path,
            name=name,
            status=403,
            error="The sign-in form had expired. Enter your details again.",
        )
    if console.throttle.over(address):  # before the hash: a flood of wrong passwords burns no CPU
        refusal = console.throttle.refused(address)
        if refusal.recorded:
            actor = console.person_actor(None, name=name, address=address)
            why = refusal.note("too many failed sign-ins from this address")
            console.record(balp.console_sign_in(node, now, actor, kind="login", outcome="4", reason=why))
        response = _form(
            request,
            console,
            next_path=next_path,
            name=name,
            status=429,
            error=f"Too many failed sign-ins from this address. Wait {refusal.retry_after} seconds and try again.",
        )
        response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    try:
        # argon2id costs ~0.1-0.7 s of CPU by design: off the event loop, so other requests are not held up.
        person = await run_in_threadpool(console.accounts.sign_in, name, form.get("password", ""), form.get("code", ""))
    except SignInRefused as refused:
        actor = console.person_actor(refused.person, name=name, address=address)
        why = "account locked" if refused.locked else "wrong name, password or code"
        why = console.throttle.refused(address).note(why)
        console.record(balp.console_sign_in(node, now, actor, kind="login", outcome="4", reason=why))
        return _form(request, console, next_path=next_path, name=name, status=401, error=str(refused))
    token, _ = console.sessions.start(person.name, replacing=request.cookies.get(SESSION_COOKIE))
    actor = console.person_actor(person, address=address)
    console.record(balp.console_sign_in(node, now, actor, kind="login", outcome="0", reason="signed in"))
    response = RedirectResponse(next_path, status_code=303)
    _set_cookie(console, response, SESSION_COOKIE, token)
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, console: ConsoleDep, visit: VisitDep, form: FormDep) -> Response:
    console.sessions.end(visit.token)
    actor = console.person_actor(visit.person, address=visit.address)
    now = console.services.clock.now()
    console.record(
        balp.console_sign_in(console.services.node, now, actor, kind="logout", outcome="0", reason="signed out")
    )
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@unknown.api_route("/{rest:path}", methods=["GET", "POST"])
async def no_such_page(request: Request, rest: str) -> Response:
    return error_page(request, 404, "There is no such page in the console.")

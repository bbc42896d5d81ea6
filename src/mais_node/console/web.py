"""The console's web layer: who is signed in, what their role lets them open, CSRF on every form, rendering.

Pages are Jinja2 templates (autoescaped) given view models of plain strings; a refusal is a page with the right
status, audited with the person as the agent.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from mais_node.api import errors as api_errors
from mais_node.audit import balp
from mais_node.audit.actors import Actor, Coding
from mais_node.console.accounts import Accounts, Lockout
from mais_node.console.people import ROLE_NAMES, Person, Session, person_of_session
from mais_node.console.security import ConsoleHeaders
from mais_node.console.sessions import Sessions, Timeouts
from mais_node.console.store import open_people_store
from mais_node.errors import MaisError
from mais_node.wiring import Services

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "mais_console"
SIGN_IN_COOKIE = "mais_console_signin"  # the double-submit CSRF token of the sign-in form (no session yet)
_LOOPBACK_NAMES = {"localhost"}


@dataclass
class Console:
    services: Services
    accounts: Accounts
    sessions: Sessions
    templates: Environment
    secure_cookies: bool
    oidc: Any = None  # the identity provider (console/oidc.py Provider) when MAIS_CONSOLE_OIDC_ISSUER is set
    throttle: Any = None  # failed password sign-ins per address (auth/refusals.py RefusalThrottle)

    def person_actor(self, person: Person | None, *, name: str = "", address: str | None = None) -> Actor:
        """The AuditEvent agent for a person (or for the name someone tried to sign in with)."""
        base = self.services.node.canonical_base
        role = Coding(f"{base}/CodeSystem/console-role", person.role) if person and person.role else None
        return Actor(
            org_ods=self.services.settings.node_org,
            user_id=person.name if person else name[:64] or None,
            user_name=person.display_name if person else None,
            user_role=role,
            address=address,
            user_system=person.issuer if person and person.issuer else f"{base}/Id/console-user",
        )

    def record(self, event: dict[str, Any]) -> None:
        self.services.checkpointer.append(event)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def install(app: FastAPI, services: Services) -> None:
    """Mount the console on the app: its routes, its static assets, its headers."""
    from mais_node.auth.ratelimit import RateLimitPolicy
    from mais_node.auth.refusals import RefusalThrottle
    from mais_node.console import (
        audit_pages,
        oidc,
        register_pages,
        review,
        rules_pages,
        signin,
        single_view,
        vocabularies,
        what_if,
    )

    settings = services.settings
    store = open_people_store(services.store)
    app.state.console = Console(
        services=services,
        accounts=Accounts(store, services.clock, Lockout()),
        sessions=Sessions(store, services.clock, Timeouts()),
        templates=environment(),
        secure_cookies=not is_loopback(settings.public_base),
        throttle=RefusalThrottle(services.clock, RateLimitPolicy(settings.console_sign_in_failures_per_minute, 60)),
    )
    oidc_config = oidc.oidc_config(settings)  # `mais serve` has refused bad settings before this
    app.state.console.oidc = oidc.Provider(oidc_config) if oidc_config else None
    app.mount("/console/static", StaticFiles(directory=HERE / "static", check_dir=False), name="console-static")
    app.include_router(signin.router)
    app.include_router(oidc.router)
    app.include_router(review.router)
    app.include_router(audit_pages.router)
    app.include_router(what_if.router)
    app.include_router(vocabularies.router)
    app.include_router(register_pages.router)
    app.include_router(rules_pages.router)
    app.include_router(single_view.router)
    app.include_router(signin.unknown)  # last: any other /console path is a 404 page
    app.add_exception_handler(PageRefused, _refused)
    # Under /console a refusal is a page; elsewhere the API's OperationOutcome, as before.
    app.add_exception_handler(MaisError, _mais_page)
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_middleware(ConsoleHeaders)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(console_of)]


class PageRefused(Exception):
    def __init__(self, status: int, title: str, message: str, visit: Visit | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.visit = status, title, message, visit


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in person's request: the cookie token, its session and the person."""

    token: str
    session: Session
    person: Person
    address: str | None


def signed_in(request: Request, console: ConsoleDep) -> Visit:
    token = request.cookies.get(SESSION_COOKIE)
    session = console.sessions.resume(token)
    person = (person_of_session(session) or console.accounts.store.get_person(session.person)) if session else None
    if token is None or session is None or person is None:
        raise SignInNeeded(request.url.path)
    return Visit(token, session, person, request.client.host if request.client else None)


VisitDep = Annotated[Visit, Depends(signed_in)]


def needs(*any_of: str) -> Any:
    """A dependency: the visit, when the person's role scopes cover one of ``any_of``; else a 403 page, audited."""

    def check(request: Request, console: ConsoleDep, visit: VisitDep) -> Visit:
        if not any(visit.person.may(need) for need in any_of):
            actor = console.person_actor(visit.person, address=visit.address)
            at = console.services.clock.now()
            console.record(
                balp.console_action(
                    console.services.node, at, actor, action="refused", target=request.url.path, outcome="4"
                )
            )
            raise PageRefused(
                403,
                "You cannot open this page",
                f"Your role ({ROLE_NAMES[visit.person.role]}) does not include this work.",
                visit,
            )
        return visit

    return Depends(check)


async def posted_form(request: Request, console: ConsoleDep, visit: VisitDep) -> dict[str, str]:
    """The form of a POST, after its CSRF token matched the session's (403 page otherwise, audited)."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not console.sessions.csrf_ok(visit.session, form.get("csrf")):
        actor = console.person_actor(visit.person, address=visit.address)
        at = console.services.clock.now()
        console.record(
            balp.console_action(
                console.services.node, at, actor, action="csrf-refused", target=request.url.path, outcome="4"
            )
        )
        raise PageRefused(
            403,
            "This form cannot be accepted",
            "The form was not sent from this session's page. Go back, reload the page and try again.",
            visit,
        )
    return form


FormDep = Annotated[dict[str, str], Depends(posted_form)]


def render(
    request: Request, template: str, *, status: int = 200, visit: Visit | None = None, **view: Any
) -> HTMLResponse:
    console = console_of(request)
    person = visit.person if visit else None
    nav = []
    if person is not None:
        nav.append(("Home", "/console"))
        if person.may("mais/reviewer"):
            nav.append(("Review queue", "/console/reviews"))
            nav.append(("What if", "/console/what-if"))
        if person.may("system/AuditEvent.rs"):
            nav.append(("Audit", "/console/audit"))
        if person.may("mais/terminology-manager"):
            nav.append(("Vocabularies", "/console/vocabularies"))
        if person.may("mais/admin") or person.may("mais/reviewer"):
            nav.append(("Register", "/console/register"))
            nav.append(("Rules", "/console/rules"))
        if person.may("mais/single-view"):
            nav.append(("Single view", "/console/single-view"))
    page = {
        "person": {"name": person.display_name, "role": ROLE_NAMES[person.role]} if person else None,
        "csrf": visit.session.csrf if visit else "",
        "nav": nav,
        "path": request.url.path,
        "node_name": console.services.settings.node_org_name,
    }
    html = console.templates.get_template(template).render(page=page, **view)
    return HTMLResponse(html, status_code=status)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    return render(request, "error.html", status=exc.status, visit=exc.visit, title=exc.title, message=exc.message)


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return RedirectResponse(f"/console/sign-in?next={quote(exc.next_path)}", status_code=303)


def _console_path(request: Request) -> bool:
    return request.url.path == "/console" or request.url.path.startswith("/console/")


_TITLES = {
    400: "This request cannot be done",
    403: "You cannot do this",
    404: "Page not found",
    409: "This cannot be done now",
    503: "Sorry, the service is unavailable",
}


def error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "This request cannot be done")
    return render(request, "error.html", status=status, title=title, message=message)


async def _mais_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MaisError)
    if not _console_path(request):
        return api_errors.outcome_response(exc)
    status = api_errors.status_of(exc)
    if status == 503:  # fail closed: nothing was shown or changed without its audit record
        return error_page(
            request, status, "The node cannot keep its records right now, so it did nothing. Try again later."
        )
    return error_page(request, status, exc.diagnostics)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console"

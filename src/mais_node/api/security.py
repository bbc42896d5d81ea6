"""The bearer check as FastAPI dependencies (SMART Backend Services; RFC 6750).

``authenticate`` gives the ``Caller`` of a request (401 with WWW-Authenticate, 429 with Retry-After);
``require_scope(...)`` adds a role-scope check (403); ``fhir_interaction`` checks the SMART v2 system scope of a
FHIR REST interaction from the route (read, search, create, update, delete). The caller is also left on
``request.state.caller`` for the audit records of later steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from mais_node.api.media import check_accept
from mais_node.audit import balp
from mais_node.audit.actors import Actor
from mais_node.auth.bearer import Caller
from mais_node.auth.services import AuthServices
from mais_node.errors import NotAuthenticated, RateLimited, Unavailable


def auth_services(request: Request) -> AuthServices:
    services = request.app.state.services
    auth = getattr(services, "auth", None) or services.extras.get("auth")
    if not isinstance(auth, AuthServices):
        raise Unavailable("The node's auth services are not configured")
    return auth


async def authenticate(request: Request) -> Caller:
    """The caller named by the bearer token; a refused token is a security alert in the audit trail (DESIGN §10).

    Checked (and counted against the rate limit) once per request, however many dependencies ask for the caller.
    """
    known = request.scope.get("state", {}).get("caller")
    if isinstance(known, Caller):
        return known
    auth = auth_services(request)
    try:
        caller = auth.authenticate(request.headers.get("authorization"))
    except NotAuthenticated as exc:
        services = request.app.state.services
        address = request.client.host if request.client else None
        refusal = auth.refused(address)
        if refusal.recorded:
            reason = refusal.note(f"bearer token: {exc.diagnostics}")
            event = balp.token_refused(services.node, services.clock.now(), Actor(address=address), reason=reason)
            services.checkpointer.append(event)
        if refusal.throttled:
            raise RateLimited("Too many refused requests from this address", retry_after=refusal.retry_after) from exc
        raise
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]


def require_scope(*any_of: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, when its token carries one of ``any_of`` (e.g. ``mais/admin``).

    It calls ``authenticate`` itself rather than declaring it: one dependency fewer to resolve on every request.
    """

    async def dependency(request: Request) -> Caller:
        caller = await authenticate(request)
        caller.require(*any_of)
        return caller

    return dependency


def interaction_of(method: str, path: str, has_id: bool) -> str:
    """The SMART v2 letter (c r u d s) of a FHIR REST request (R4 §3.1.0)."""
    if method in ("GET", "HEAD"):
        return "r" if has_id or path.endswith("/_history") else "s"
    if method == "POST":
        return "s" if path.endswith("/_search") else "c"
    return {"PUT": "u", "PATCH": "u", "DELETE": "d"}.get(method, "c")


async def fhir_interaction(request: Request) -> Caller:
    """The one dependency of the FHIR REST routes: a JSON ``Accept`` (406), then the caller (401, 429), when its
    scopes allow this interaction on this type (403).

    One dependency doing the three checks in that order, rather than three resolved by FastAPI, because each
    dependency it resolves costs microseconds on every FHIR request.
    """
    await check_accept(request)
    caller = await authenticate(request)
    params = request.path_params
    letter = interaction_of(request.method, request.scope["path"], "id" in params)
    caller.require_interaction(str(params.get("rtype", "*")), letter)
    return caller

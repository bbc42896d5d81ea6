"""SMART Backend Services over HTTP: discovery, the token endpoint, the node's keys, and register administration.

Thin adapter: each route hands the request to ``AuthServices``. The token endpoint answers RFC 6749 JSON (not
OperationOutcome); the register routes need the ``mais/admin`` scope and answer JSON. Include this router before
the FHIR REST router, whose ``/fhir/{rtype}/{id}`` would otherwise take ``/fhir/.well-known/...``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from mais_node.api.media import check_charset, parse_json
from mais_node.api.security import auth_services, require_scope
from mais_node.audit.actors import Actor
from mais_node.auth.bearer import Caller
from mais_node.auth.scopes import ADMIN
from mais_node.auth.services import AuthServices
from mais_node.errors import InvalidRequest, PayloadTooLarge, RateLimited
from mais_node.register.model import Client, Organisation

router = APIRouter()
AuthDep = Annotated[AuthServices, Depends(auth_services)]
AdminDep = Annotated[Caller, Depends(require_scope(ADMIN))]


@router.get("/fhir/.well-known/smart-configuration")
async def smart_configuration(auth: AuthDep) -> JSONResponse:
    return JSONResponse(auth.discovery, headers={"Cache-Control": "max-age=300"})


@router.get("/auth/jwks")
async def jwks(auth: AuthDep) -> JSONResponse:
    return JSONResponse(auth.keyring.public_jwks(), headers={"Cache-Control": "max-age=60"})


# A client_credentials request is a few parameters and one signed assertion (about 1 KiB). Anything much larger is
# refused before it is parsed: the form parser and authlib are not meant for 100,000-field bodies.
MAX_TOKEN_REQUEST_BYTES = 16 * 1024


@router.post("/auth/token")
async def token(request: Request, auth: AuthDep) -> JSONResponse:
    body = await request.body()
    address = request.client.host if request.client else None
    if len(body) > MAX_TOKEN_REQUEST_BYTES:
        refusal = auth.token_endpoint.audit_refused(Actor(address=address), "invalid_request: the request is too large")
        if refusal.throttled:
            raise RateLimited("Too many refused requests from this address", retry_after=refusal.retry_after)
        raise PayloadTooLarge(f"A token request must not exceed {MAX_TOKEN_REQUEST_BYTES} bytes")
    answer = auth.token_endpoint.handle(request.headers.get("content-type", ""), body, address)
    return JSONResponse(answer.body, answer.status, headers=answer.headers)


# -- register administration (mais/admin) ----------------------------------------------------------------------
def _actor(caller: Caller, request: Request) -> Actor:
    return Actor(
        org_ods=caller.org_ods, client_id=caller.client_id, address=request.client.host if request.client else None
    )


async def _json(request: Request) -> dict[str, Any]:
    check_charset(request)
    return parse_json(await request.body())


def _text(doc: dict[str, Any], name: str, *, optional: bool = False) -> str:
    """A string member of a register request: ``{"$ne": ""}`` is refused here, not turned into text."""
    value = doc.get(name, "")
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string", expression=(name,))
    return value


def _org(org: Organisation) -> dict[str, Any]:
    return {
        "ods": org.ods,
        "name": org.name,
        "type": org.type,
        "operational_status": org.operational_status,
        "technical_status": org.technical_status,
        "verification_status": org.verification_status,
        "verification_date": org.verification_date,
        "resource": f"Organization/{org.id}" if org.id else None,
        "version": org.version,
        "source": org.source,  # "local" or "national serial N" (issue 14)
        "suspended_here": org.suspended_here,
    }


def _client(client: Client) -> dict[str, Any]:
    keys = {"jwks_uri": client.jwks_uri} if client.jwks_uri else {"jwks": client.jwks}
    return {
        "client_id": client.client_id,
        "org": client.org_ods,
        "scope": " ".join(client.scopes),
        "status": client.status,
        "created": client.created,
        **keys,
    }


@router.get("/auth/register/organisations")
async def list_organisations(auth: AuthDep, caller: AdminDep) -> JSONResponse:
    return JSONResponse([_org(o) for o in auth.organisations.list()])


@router.post("/auth/register/organisations")
async def add_organisation(request: Request, auth: AuthDep, caller: AdminDep) -> JSONResponse:
    doc = await _json(request)
    org = auth.organisations.add(
        _text(doc, "ods"),
        _text(doc, "name"),
        _text(doc, "type"),
        verified=doc.get("verified") is True,
        actor=_actor(caller, request),
    )
    return JSONResponse(_org(org), 201)


@router.post("/auth/register/organisations/{ods}/{action}")
async def change_organisation(ods: str, action: str, request: Request, auth: AuthDep, caller: AdminDep) -> JSONResponse:
    changes = {
        "suspend": auth.organisations.suspend,
        "activate": auth.organisations.activate,
        "verify": auth.organisations.verify,
    }
    if action not in changes:
        raise InvalidRequest("The action must be suspend, activate or verify", expression=("action",))
    return JSONResponse(_org(changes[action](ods, actor=_actor(caller, request))))


@router.get("/auth/register/clients")
async def list_clients(auth: AuthDep, caller: AdminDep, org: str | None = None) -> JSONResponse:
    return JSONResponse([_client(c) for c in auth.clients.list(org)])


@router.post("/auth/register/clients")
async def add_client(request: Request, auth: AuthDep, caller: AdminDep) -> JSONResponse:
    doc = await _json(request)
    jwks, jwks_uri = doc.get("jwks"), _text(doc, "jwks_uri", optional=True)
    client = auth.clients.add(
        _text(doc, "org"),
        _text(doc, "scope").split(),
        jwks=jwks if isinstance(jwks, dict) else None,
        jwks_uri=jwks_uri or None,
        actor=_actor(caller, request),
    )
    return JSONResponse(_client(client), 201)


@router.post("/auth/register/clients/{client_id}/revoke")
async def revoke_client(client_id: str, request: Request, auth: AuthDep, caller: AdminDep) -> JSONResponse:
    return JSONResponse(_client(auth.clients.revoke(client_id, actor=_actor(caller, request))))

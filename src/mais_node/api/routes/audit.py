"""The audit trail for auditors (DESIGN §7, issue 6): AuditEvent search and read over FHIR, and the signed
checkpoints. Only tokens with ``system/AuditEvent.rs`` get in; every search is itself audited."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from mais_node.api.deps import ServicesDep, prefers_strict
from mais_node.api.media import check_accept, fhir_response
from mais_node.api.methods import not_allowed, refuser
from mais_node.api.security import require_scope
from mais_node.audit import balp
from mais_node.audit import search as trail_search
from mais_node.audit.actors import Actor
from mais_node.audit.port import AuditRecord
from mais_node.audit.query import parse_audit_search
from mais_node.auth.bearer import Caller
from mais_node.errors import MethodNotAllowed, NotFound

router = APIRouter(dependencies=[Depends(check_accept)])
AUDITOR = "system/AuditEvent.rs"
AuditorDep = Annotated[Caller, Depends(require_scope(AUDITOR))]


@router.get("/fhir/AuditEvent")
async def search(request: Request, services: ServicesDep, caller: AuditorDep) -> Response:
    pairs = request.query_params.multi_items()
    asked = parse_audit_search(pairs, strict=prefers_strict(request), now=services.clock.now())
    base = f"{services.settings.fhir_base}/AuditEvent"
    bundle, returned = trail_search.searchset(services.audit, asked, base)
    actor = Actor(org_ods=caller.org_ods, client_id=caller.client_id)
    query = urlencode([(k, v) for k, v in pairs if k != "_format"])
    services.checkpointer.append(
        balp.audit_searched(services.node, services.clock.now(), actor, query=query, returned=returned)
    )
    return fhir_response(bundle)


def _served(record: AuditRecord | None, seq: str) -> Response:
    if record is None:
        raise NotFound(f"AuditEvent/{seq[:20]} is not known")
    resource = trail_search.as_resource(record)
    headers = {"ETag": f'W/"{trail_search.VERSION}"', "Last-Modified": format_datetime(record.recorded, usegmt=True)}
    return fhir_response(resource, headers=headers)


@router.get("/fhir/AuditEvent/{seq}")
async def read(seq: str, services: ServicesDep, caller: AuditorDep) -> Response:
    return _served(trail_search.read(services.audit, seq), seq)


@router.get("/fhir/AuditEvent/{seq}/_history/{version}")
async def vread(seq: str, version: str, services: ServicesDep, caller: AuditorDep) -> Response:
    """An AuditEvent has one version, "1": the trail is append-only."""
    record = trail_search.read(services.audit, seq) if version == trail_search.VERSION else None
    return _served(record, f"{seq[:20]}/_history/{version[:20]}")


@router.get("/audit/checkpoint")
async def latest_checkpoint(services: ServicesDep, caller: AuditorDep) -> Response:
    """The latest signed checkpoint of the chain (seq, hash, time and its JWS)."""
    checkpoint = services.checkpoints.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("No checkpoint has been signed yet")
    return JSONResponse(checkpoint.to_json())


@router.post("/audit/checkpoint")
async def new_checkpoint(services: ServicesDep, caller: AuditorDep) -> Response:
    """Sign a checkpoint of the chain as it stands now."""
    checkpoint = services.checkpointer.checkpoint()
    if checkpoint is None:
        raise NotFound("The audit trail is empty")
    return JSONResponse(checkpoint.to_json(), status_code=201)


@router.api_route("/fhir/AuditEvent", methods=["POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
@router.api_route("/fhir/AuditEvent/{seq}", methods=["POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
@refuser
async def append_only(request: Request, seq: str = "") -> Response:
    """The audit trail is append-only: no one creates, changes or deletes an AuditEvent over the API (405)."""
    message = "AuditEvent is append-only: it cannot be created, updated or deleted over the API"
    raise not_allowed(request.scope, message) or MethodNotAllowed(message)

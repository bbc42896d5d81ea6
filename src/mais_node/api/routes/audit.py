"""The audit trail for auditors (DESIGN §7, issue 6): AuditEvent search and read over FHIR, and the signed
checkpoints. Only tokens with ``system/AuditEvent.rs`` get in; every search is itself audited."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from mais_node.api.deps import ServicesDep
from mais_node.api.media import check_accept, fhir_response
from mais_node.api.security import require_scope
from mais_node.audit import balp
from mais_node.audit.actors import Actor
from mais_node.audit.query import parse_audit_query
from mais_node.auth.bearer import Caller
from mais_node.errors import MethodNotAllowed, NotFound
from mais_node.fhir.search.parse import is_small_int

router = APIRouter(dependencies=[Depends(check_accept)])
AUDITOR = "system/AuditEvent.rs"
AuditorDep = Annotated[Caller, Depends(require_scope(AUDITOR))]


@router.get("/fhir/AuditEvent")
async def search(request: Request, services: ServicesDep, caller: AuditorDep) -> Response:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    page = services.audit.search(parse_audit_query(pairs))
    base = f"{services.settings.fhir_base}/AuditEvent"
    own = [(k, v) for k, v in pairs if k != "_cursor"]
    links = [{"relation": "self", "url": f"{base}?{urlencode(pairs)}"}]
    if page.next_cursor:
        links.append({"relation": "next", "url": f"{base}?{urlencode([*own, ('_cursor', page.next_cursor)])}"})
    entries = [
        {"fullUrl": f"{base}/{record.seq}", "resource": record.event, "search": {"mode": "match"}}
        for record in page.records
    ]
    actor = Actor(org_ods=caller.org_ods, client_id=caller.client_id)
    services.checkpointer.append(
        balp.audit_searched(services.node, services.clock.now(), actor, query=urlencode(pairs), returned=len(entries))
    )
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries})


@router.get("/fhir/AuditEvent/{seq}")
async def read(seq: str, services: ServicesDep, caller: AuditorDep) -> Response:
    if is_small_int(seq):
        record = next(iter(services.audit.scan(int(seq))), None)
        if record is not None and record.seq == int(seq):
            return fhir_response(record.event)
    raise NotFound(f"AuditEvent/{seq[:20]} is not known")


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
async def append_only(seq: str = "") -> Response:
    """The audit trail is append-only: no one creates, changes or deletes an AuditEvent over the API (405)."""
    raise MethodNotAllowed("AuditEvent is append-only: it cannot be created, updated or deleted over the API")

"""Operator endpoints: liveness, readiness (the store answers and the trail takes a record), Prometheus metrics,
and the CapabilityStatement."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from mais_node.api.deps import ServicesDep
from mais_node.api.media import fhir_response
from mais_node.errors import Unavailable

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(services: ServicesDep) -> Response:
    """Ready when the store answers and the audit trail can take a record (no answer leaves without its record)."""
    try:
        services.store.ping()
    except Unavailable:
        return JSONResponse({"status": "unavailable", "store": "unreachable"}, status_code=503)
    ready: dict[str, object] = {"status": "ready", "store": "ok", "audit": "ok"}
    if services.network is not None:  # the national register in force (issue 14): a node keeps serving on it
        ready["register"] = services.network.readiness(services.clock.now())
    if not services.readiness.ready():
        return JSONResponse(ready | {"status": "unavailable", "audit": "cannot take a record"}, status_code=503)
    return JSONResponse(ready)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/fhir/metadata")
async def metadata(request: Request) -> Response:
    return fhir_response(request.app.state.capability)

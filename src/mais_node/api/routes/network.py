"""The network's routes (issue 14): ``GET /register`` (the authority's latest signed register, with ``ETag``,
``Cache-Control`` and ``304`` to ``If-None-Match``), ``/.well-known/jwks.json`` (this node's outgoing identity), and
the register's readiness metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import JSONResponse, Response

from mais_node.api.deps import ServicesDep
from mais_node.errors import NotFound
from mais_node.network.ports import Published
from mais_node.wiring import Services

router = APIRouter()
# Partners poll every minute or so; a short max-age with revalidation keeps each poll a 304 of a few hundred bytes.
CACHE_CONTROL = "public, max-age=30, must-revalidate"
_lock = threading.Lock()


def _latest(services: Services) -> Published:
    """The latest published register: one cheap read of its serial; the document is read again only when it moved."""
    assert services.network is not None
    store = services.network.store
    serial = store.published_serial()
    cached: Published | None = services.extras.get("published_register")
    if cached is None or cached.serial != serial:
        cached = store.published()
        with _lock:
            services.extras["published_register"] = cached
    if cached is None:
        raise NotFound("This node publishes no national register (mais authority publish makes one)")
    return cached


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/register", include_in_schema=False)
async def register(request: Request, services: ServicesDep) -> Response:
    latest = _latest(services)
    headers = {"ETag": latest.etag, "Cache-Control": CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match"), latest.etag):
        return Response(status_code=304, headers=headers)
    return Response(latest.document, media_type="application/fhir+json", headers=headers)


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def identity_jwks(services: ServicesDep) -> JSONResponse:
    identity = services.extras.get("identity")
    keys = identity.public_jwks() if identity is not None else {"keys": []}
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


class RegisterCollector(Collector):
    """``mais_register_serial`` and ``mais_register_expired`` (1 when the register in force is past its expiry)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        network = self.services.network
        if network is None:
            return
        detail = network.readiness(self.services.clock.now())
        yield GaugeMetricFamily(
            "mais_register_serial", "Serial of the national register in force", detail["serial"] or 0
        )
        expired = GaugeMetricFamily("mais_register_expired", "1 when the national register in force has expired")
        expired.add_metric([], 1.0 if detail.get("expired") else 0.0)
        yield expired
        refused = GaugeMetricFamily("mais_register_last_sync_refused", "1 when the last sync applied nothing")
        refused.add_metric([], 1.0 if detail.get("last_refusal") else 0.0)
        yield refused


def install_metrics(registry: CollectorRegistry, services: Services) -> None:
    registry.register(RegisterCollector(services))

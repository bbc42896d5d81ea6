"""The app factory: wires the adapters and routes of one node. Nothing connects at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from mais_node import __version__
from mais_node.api import errors, openapi
from mais_node.api.methods import Methods
from mais_node.api.middleware import EdgeMiddleware, Metrics
from mais_node.api.routes import audit, auth, enquiry, network, ops, rest, single_view, terminology
from mais_node.audit.query import AUDIT_SEARCH_PARAMS
from mais_node.config import Settings, get_settings
from mais_node.console import web as console
from mais_node.fhir.capability import OPERATIONS, UNSTORED, capability_statement
from mais_node.fhir.search.params import DECLARED
from mais_node.wiring import Services, build_services, start, start_sync
from mais_node.wiring_single_view import close_single_views, start_follow_ups

log = logging.getLogger("mais_node")


# Collect the young generation every 20,000 net allocations instead of 700 (docs/decisions.md "GC after start").
GC_THRESHOLDS = (20_000, 10, 10)


def _freeze_startup_objects() -> None:
    """Move what start built (the person index: millions of objects at 1M people) out of the collector's reach.

    Without it every full collection walks the whole index: 75-100 ms pauses at 100k people, several a minute
    under load, each one stalling every request in flight. Frozen objects are never collected, which is right for
    an index that lives as long as the process; what it replaces later is collected as usual. An enquiry allocates
    thousands of short-lived containers, so the default young-generation threshold (700) ran several collections
    per enquiry and a full one every ~500 enquiries; the higher threshold keeps the same collector, less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the node: services on the store the settings name (or the ones given), routes, error mapping."""
    settings = settings or get_settings()
    own = services is None
    node = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start(node)
        poller = start_sync(node)
        follow_ups = start_follow_ups(node)
        _freeze_startup_objects()
        log.info("mais-node %s serving %s on %s", __version__, settings.fhir_base, settings.store.split("?")[0])
        yield
        if follow_ups is not None:
            await follow_ups.aclose()
        await close_single_views(node)
        if poller is not None:
            poller.stop()
        if own:
            node.close()
        log.info("mais-node stopped")

    app = FastAPI(
        title="mais-node",
        version=__version__,
        description="FHIR R4 node for MAIS multi-agency information sharing enquiries",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    metrics = Metrics()
    app.state.services = node
    app.state.metrics = metrics
    app.state.capability = capability_statement(
        settings.fhir_base,
        software_date=datetime.now(UTC).date().isoformat(),
        operations=OPERATIONS,
        profiles={rtype: node.profiles.profiles_for(rtype) for rtype in (*DECLARED, "AuditEvent", *UNSTORED)},
        audit_params=AUDIT_SEARCH_PARAMS,
        token_url=node.auth.token_url,
    )
    errors.install(app)
    openapi.install(app)
    # The enquiry's POST /fhir/Task comes before the generic create; the generic routes match only stored types
    # and FHIR ids (api/paths.py), so "$operation" paths and AuditEvent fall through to their own routers. The
    # enquiry's operations come first of all: the router tries routes in order, and the enquiry is the hot path
    # (its paths are literal "$operation" paths no other router serves, so the order changes no answer).
    routers = (
        enquiry.router,
        enquiry.task_router,
        rest.router,
        terminology.router,
        audit.router,
        auth.router,
        ops.router,
        network.router,
        single_view.router,
        rest.fallback,
    )
    for router in routers:
        app.include_router(router)
    app.state.methods = Methods(routers)  # the Allow header of every 405 (api/methods.py)
    network.install_metrics(metrics.registry, node)
    console.install(app, node)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=metrics,
        body_timeout=settings.body_timeout_seconds,
        trusted_proxies=settings.trusted_proxy_networks,
    )
    return app

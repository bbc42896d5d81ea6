"""Dependencies the routes ask for, as ``Annotated`` aliases (FastAPI docs habit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mais_node.wiring import Services


def services_of(request: Request) -> Services:
    """The node's services; the hot FHIR routes call this directly instead of resolving ``ServicesDep``."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


def prefers_strict(request: Request) -> bool:
    """``Prefer: handling=strict`` (FHIR R4 §3.1.1.4.x): refuse unknown search parameters."""
    prefer = request.headers.get("prefer", "")
    return any(part.strip().lower() == "handling=strict" for part in prefer.split(","))


ServicesDep = Annotated[Services, Depends(get_services)]

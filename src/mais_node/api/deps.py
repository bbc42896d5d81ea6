"""Dependencies the routes ask for, as ``Annotated`` aliases (FastAPI docs habit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from mais_node.wiring import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def strict_handling(request: Request) -> bool:
    """``Prefer: handling=strict`` (FHIR R4 §3.1.1.4.x): refuse unknown search parameters."""
    prefer = request.headers.get("prefer", "")
    return any(part.strip().lower() == "handling=strict" for part in prefer.split(","))


ServicesDep = Annotated[Services, Depends(get_services)]
StrictDep = Annotated[bool, Depends(strict_handling)]

"""``POST /fhir/Patient/$single-view`` (issue 15 item 1): a practitioner's system asks once; every relevant partner
is asked. ``200`` with the view (a ``mais-single-view`` Task) as it stands at the live deadline, or ``202`` at once
under ``Prefer: respond-async``; either way the view's own URL is in ``Content-Location``, to poll with
``If-None-Match`` while referred rows are followed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from mais_node.api.deps import ServicesDep
from mais_node.api.media import check_accept, check_content_type, raw_response
from mais_node.api.security import require_scope
from mais_node.audit.actors import Actor
from mais_node.auth.bearer import Caller
from mais_node.auth.scopes import SINGLE_VIEW
from mais_node.enquiry.model import Asker
from mais_node.network.single_view import Stored
from mais_node.wiring import Services
from mais_node.wiring_single_view import begin_single_view

router = APIRouter(prefix="/fhir", dependencies=[Depends(check_accept)])
ViewerDep = Annotated[Caller, Depends(require_scope(SINGLE_VIEW))]


def _headers(services: Services, stored: Stored) -> dict[str, str]:
    view = f"{services.settings.fhir_base}/Task/{stored.id}"
    return {"Content-Location": view, "Location": f"{view}/_history/{stored.version}", "ETag": f'W/"{stored.version}"'}


@router.post("/Patient/$single-view")
async def single_view(request: Request, services: ServicesDep, caller: ViewerDep) -> Response:
    check_content_type(request)
    raw = await request.body()
    asker = Asker(caller.org_ods, caller.client_id)
    begun = begin_single_view(services, raw, asker, Actor(org_ods=caller.org_ods, client_id=caller.client_id))
    if "respond-async" in request.headers.get("prefer", "").lower():
        begun.views.spawn(begun.ask())
        return raw_response(begun.stored.body, 202, _headers(services, begun.stored))
    stored = await begun.ask()
    return raw_response(stored.body, 200, _headers(services, stored))

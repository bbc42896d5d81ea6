"""The FHIR RESTful API (R4 §3.1.0) for the stored types; routes call the resource service and nothing else."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

import mais_node.api.paths  # noqa: F401  (registers the path convertors used below)
from mais_node.api.deps import prefers_strict, services_of
from mais_node.api.governance import audit_write, caller_of, check_task_owner, guard_write, task_filter
from mais_node.api.media import check_accept, fhir_response, raw_response, read_resource
from mais_node.api.security import fhir_interaction
from mais_node.errors import InvalidRequest, MethodNotAllowed, NotFound
from mais_node.fhir import bundle
from mais_node.fhir.capability import READ_ONLY_TYPES
from mais_node.fhir.search.params import DECLARED
from mais_node.fhir.search.parse import count_value, decode_cursor, is_small_int
from mais_node.storage.keyset import fhir_instant
from mais_node.storage.port import Stored
from mais_node.wiring import Services

router = APIRouter(prefix="/fhir", dependencies=[Depends(fhir_interaction)])


def _type(rtype: str, *, write: bool = False) -> str:
    if rtype in READ_ONLY_TYPES and write:
        raise MethodNotAllowed(f"{rtype} is append-only: it cannot be created, updated or deleted over the API")
    if rtype not in DECLARED:
        raise NotFound(f"Resource type '{rtype[:64]}' is not supported", expression=("type",))
    return rtype


def _headers(stored: Stored) -> dict[str, str]:
    return {"ETag": f'W/"{stored.version}"', "Last-Modified": fhir_instant(stored.last_updated)}


def _version_header(value: str | None) -> int | None:
    if value is None:
        return None
    digits = value.strip().removeprefix("W/").strip('"')
    if not is_small_int(digits):
        raise InvalidRequest('If-Match must be a version ETag such as W/"3"', expression=("If-Match",))
    return int(digits)


def _pairs(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]


def _search_response(services: Services, rtype: str, pairs: list[tuple[str, str]], strict: bool) -> Response:
    result = services.resources.search(rtype, pairs, strict=strict)
    document = bundle.searchset(
        services.settings.fhir_base,
        rtype,
        pairs,
        result.page.items,
        result.included,
        next_after=result.page.next_after,
        total=result.page.total,
        elements=result.request.elements,
        ignored=result.request.ignored,
    )
    return fhir_response(document)


# The routes take the request and read their path parameters from it: FastAPI's per-parameter validation and each
# dependency it resolves cost microseconds on every request, and the path convertors (api/paths.py) have already
# checked the shapes. The interactions are matched most used first; the paths are disjoint, so order changes no
# match, and routes sharing a path keep their relative order (the first one answers 405 for another method).


def _path(request: Request) -> tuple[str, str]:
    params = request.path_params
    return params["rtype"], params["id"]


@router.get("/{rtype:stored}/{id:fhirid}")
async def read(request: Request) -> Response:
    rtype, id = _path(request)
    stored = services_of(request).resources.read(_type(rtype), id)
    if rtype == "Task":
        check_task_owner(caller_of(request), stored.body, id)
    return raw_response(stored.json, 200, _headers(stored))


@router.put("/{rtype:stored}/{id:fhirid}")
async def update(request: Request) -> Response:
    rtype, id = _path(request)
    services = services_of(request)
    _type(rtype, write=True)
    body = await read_resource(request)
    if_match = _version_header(request.headers.get("if-match"))
    caller = caller_of(request)
    before = guard_write(services, caller, rtype, id, body)
    written = services.resources.update(rtype, id, body, if_match=if_match)
    stored = written.stored
    audit_write(services, caller, rtype, id, before, stored.version)
    headers = _headers(stored)
    if written.created:
        headers["Location"] = f"{services.settings.fhir_base}/{rtype}/{stored.id}/_history/{stored.version}"
    return raw_response(stored.json, 201 if written.created else 200, headers)


@router.delete("/{rtype:stored}/{id:fhirid}")
async def delete(request: Request) -> Response:
    rtype, id = _path(request)
    services = services_of(request)
    caller = caller_of(request)
    before = guard_write(services, caller, _type(rtype, write=True), id, None)
    services.resources.delete(rtype, id)
    if before is not None:
        audit_write(services, caller, rtype, id, before, None)
    return Response(status_code=204)


@router.get("/{rtype:stored}")
async def search(request: Request) -> Response:
    rtype = request.path_params["rtype"]
    pairs = _pairs(request)
    if rtype == "Task":
        pairs += task_filter(caller_of(request))
    return _search_response(services_of(request), _type(rtype), pairs, prefers_strict(request))


@router.post("/{rtype:stored}")
async def create(request: Request) -> Response:
    rtype = request.path_params["rtype"]
    services = services_of(request)
    _type(rtype, write=True)
    body = await read_resource(request)
    caller = caller_of(request)
    guard_write(services, caller, rtype, None, body)
    written = services.resources.create(rtype, body, if_none_exist=request.headers.get("if-none-exist"))
    stored = written.stored
    if written.created:
        audit_write(services, caller, rtype, stored.id, None, stored.version)
    headers = _headers(stored)
    headers["Location"] = f"{services.settings.fhir_base}/{rtype}/{stored.id}/_history/{stored.version}"
    return raw_response(stored.json, 201 if written.created else 200, headers)


@router.post("/{rtype:stored}/_search")
async def search_post(request: Request) -> Response:
    rtype = request.path_params["rtype"]
    form = await request.form()
    pairs = [*_pairs(request), *((k, v) for k, v in form.multi_items() if isinstance(v, str))]
    if rtype == "Task":
        pairs += task_filter(caller_of(request))
    return _search_response(services_of(request), _type(rtype), pairs, prefers_strict(request))


@router.get("/_history")
async def system_history(request: Request) -> Response:
    return _history(request, None, None, "_history")


@router.get("/{rtype:stored}/_history")
async def type_history(request: Request) -> Response:
    rtype = request.path_params["rtype"]
    return _history(request, _type(rtype), None, f"{rtype}/_history")


@router.get("/{rtype:stored}/{id:fhirid}/_history")
async def instance_history(request: Request) -> Response:
    rtype, id = _path(request)
    if rtype == "Task":
        check_task_owner(caller_of(request), services_of(request).resources.read("Task", id).body, id)
    return _history(request, _type(rtype), id, f"{rtype}/{id}/_history")


@router.get("/{rtype:stored}/{id:fhirid}/_history/{vid}")
async def vread(request: Request) -> Response:
    rtype, id = _path(request)
    stored = services_of(request).resources.vread(_type(rtype), id, request.path_params["vid"])
    if rtype == "Task":
        check_task_owner(caller_of(request), stored.body, id)
    return raw_response(stored.json, 200, _headers(stored))


def _history(request: Request, rtype: str | None, id: str | None, path: str) -> Response:
    services = services_of(request)
    pairs = _pairs(request)
    params = dict(pairs)
    count_text = params.get("_count")
    count = None if count_text is None else count_value("_count", count_text, services.settings.max_page_size)
    after = decode_cursor(params["_cursor"]) if "_cursor" in params else None
    page = services.resources.history(rtype, id, count, after)
    return fhir_response(bundle.history(services.settings.fhir_base, path, pairs, page.items, page.next_after))


# Included last: whatever no other route took under /fhir is an unknown type (or an id that is not a FHIR id).
fallback = APIRouter(prefix="/fhir", dependencies=[Depends(check_accept)])
_ANY = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@fallback.api_route("/{rtype}", methods=_ANY, include_in_schema=False)
@fallback.api_route("/{rtype}/{rest:path}", methods=_ANY, include_in_schema=False)
async def unknown(rtype: str, rest: str = "") -> Response:
    if rtype in DECLARED:
        raise NotFound(f"{rtype}/{rest[:64]} is not a resource or operation of this server", expression=("id",))
    raise NotFound(f"Resource type '{rtype[:64]}' is not supported", expression=("type",))

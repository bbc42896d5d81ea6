"""The FHIR RESTful API (R4 §3.1.0) for the stored types; routes call the resource service and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

import mais_node.api.paths  # noqa: F401  (registers the path convertors used below)
from mais_node.api.deps import prefers_strict, services_of
from mais_node.api.governance import audit_write, caller_of, check_task_owner, guard_write, task_filter
from mais_node.api.media import (
    check_accept,
    check_charset,
    fhir_response,
    media_type,
    parse_json_value,
    raw_response,
    read_form,
    read_resource,
)
from mais_node.api.methods import not_allowed, refuser
from mais_node.api.preconditions import not_modified, validators, version_header, written
from mais_node.api.security import fhir_interaction
from mais_node.auth.scopes import permits
from mais_node.errors import InvalidRequest, MethodNotAllowed, NotFound, UnknownSearchParameter, UnsupportedMediaType
from mais_node.fhir import bundle
from mais_node.fhir.capability import PATCH_FORMATS, READ_ONLY_TYPES
from mais_node.fhir.patch import json_patch, merge_patch
from mais_node.fhir.search.params import DECLARED
from mais_node.fhir.search.parse import decode_cursor, page_size, summary_value
from mais_node.fhir.shape import shape
from mais_node.storage.port import Stored
from mais_node.wiring import Services

router = APIRouter(prefix="/fhir", dependencies=[Depends(fhir_interaction)])


def _type(rtype: str, *, write: bool = False) -> str:
    if rtype in READ_ONLY_TYPES and write:
        raise MethodNotAllowed(f"{rtype} is append-only: it cannot be created, updated or deleted over the API")
    if rtype not in DECLARED:
        raise NotFound(f"Resource type '{rtype[:64]}' is not supported", expression=("type",))
    return rtype


def _pairs(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]


def _search_response(services: Services, rtype: str, pairs: list[tuple[str, str]], strict: bool) -> Response:
    result = services.resources.search(rtype, pairs, strict=strict)
    document = bundle.searchset(
        services.settings.fhir_base,
        rtype,
        result.request,
        result.page.items,
        result.included,
        next_after=result.page.next_after,
        total=result.page.total,
    )
    return fhir_response(document)


def _resource_answer(request: Request, stored: Stored) -> Response:
    """A read or vread: 304 when the client holds this version, else the body as ``_summary`` / ``_elements``
    shape it (R4 §3.1.1.5.8-9 apply to reads too)."""
    unchanged = not_modified(request, stored)
    if unchanged is not None:
        return unchanged
    params = request.query_params
    summary = params.get("_summary")
    elements = tuple(e for e in params.get("_elements", "").split(",") if e)
    if summary is None and not elements:
        return raw_response(stored.json, 200, validators(stored))
    body = shape(stored.body, summary_value(summary) if summary is not None else None, elements)
    return fhir_response(body, 200, validators(stored))


def _location(services: Services, stored: Stored) -> str:
    return f"{services.settings.fhir_base}/{stored.resource_type}/{stored.id}/_history/{stored.version}"


def _criteria(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in _pairs(request) if k != "_cursor"]


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
    return _resource_answer(request, stored)


@router.put("/{rtype:stored}/{id:fhirid}")
async def update(request: Request) -> Response:
    rtype, id = _path(request)
    _type(rtype, write=True)
    body = await read_resource(request)
    caller = caller_of(request)
    # An update to an id not in use creates it (R4 update as create): the token must allow a create as well.
    if not permits(caller.scopes, rtype, "c") and not services_of(request).resources.exists(rtype, id):
        caller.require_interaction(rtype, "c")
    return _update(request, rtype, id, body, version_header(request.headers.get("if-match")))


def _update(request: Request, rtype: str, id: str, body: dict[str, Any], if_match: int | None) -> Response:
    services = services_of(request)
    caller = caller_of(request)
    before = guard_write(services, caller, rtype, id, body)
    result = services.resources.update(rtype, id, body, if_match=if_match)
    stored = result.stored
    audit_write(services, caller, rtype, id, before, stored.version)
    headers = validators(stored)
    if result.created:
        headers["Location"] = _location(services, stored)
    message = f"{rtype}/{id} {'created' if result.created else 'updated'} at version {stored.version}"
    return written(request, stored, 201 if result.created else 200, headers, message)


@router.delete("/{rtype:stored}/{id:fhirid}")
async def delete(request: Request) -> Response:
    rtype, id = _path(request)
    return _delete(request, _type(rtype, write=True), id)


def _delete(request: Request, rtype: str, id: str) -> Response:
    services = services_of(request)
    caller = caller_of(request)
    if_match = version_header(request.headers.get("if-match"))
    before = guard_write(services, caller, rtype, id, None)
    services.resources.delete(rtype, id, if_match=if_match)
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
    _type(rtype, write=True)
    body = await read_resource(request)
    return _create(request, rtype, body, _if_none_exist(request))


def _if_none_exist(request: Request) -> str | None:
    """The criteria of a conditional create: the If-None-Exist header (R4 §3.1.0.8), or search parameters in the
    URL (what fhirpy's ``get_or_create`` sends), which would otherwise be ignored and create a duplicate."""
    header = request.headers.get("if-none-exist")
    criteria = _criteria(request)
    if criteria and header is not None:
        raise InvalidRequest(
            "Give the criteria of a conditional create once: in If-None-Exist or in the URL, not both",
            expression=("If-None-Exist",),
        )
    return urlencode(criteria) if criteria else header


def _create(request: Request, rtype: str, body: dict[str, Any], if_none_exist: str | None) -> Response:
    services = services_of(request)
    caller = caller_of(request)
    guard_write(services, caller, rtype, None, body)
    result = services.resources.create(rtype, body, if_none_exist=if_none_exist)
    stored = result.stored
    if result.created:
        audit_write(services, caller, rtype, stored.id, None, stored.version)
    headers = validators(stored)
    headers["Location"] = _location(services, stored)
    message = f"{rtype}/{stored.id} {'created' if result.created else 'already exists'} at version {stored.version}"
    return written(request, stored, 201 if result.created else 200, headers, message)


@router.post("/{rtype:stored}/_search")
async def search_post(request: Request) -> Response:
    rtype = request.path_params["rtype"]
    pairs = [*_pairs(request), *await read_form(request)]
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
    return _resource_answer(request, stored)


_HISTORY_PARAMS = ("_count", "_since", "_cursor")


def _history(request: Request, rtype: str | None, id: str | None, path: str) -> Response:
    services = services_of(request)
    pairs = _pairs(request)
    params = dict(pairs)
    repeated = next((name for name in _HISTORY_PARAMS if sum(1 for k, _ in pairs if k == name) > 1), None)
    if repeated is not None:
        raise InvalidRequest(f"'{repeated}' may be given once", expression=(repeated,))
    unknown = [name for name in params if name not in _HISTORY_PARAMS]
    if unknown and prefers_strict(request):
        raise UnknownSearchParameter(
            f"History does not take the parameter '{unknown[0][:60]}'", expression=(unknown[0][:60],)
        )
    count, used = None, []
    if "_count" in params:
        count, _ = page_size(params["_count"], services.settings.max_page_size)
        used.append(("_count", str(count)))
    since = params.get("_since")
    if since is not None:
        used.append(("_since", since))
    after = decode_cursor(params["_cursor"]) if "_cursor" in params else None
    if after is not None:
        used.append(("_cursor", params["_cursor"]))
    page = services.resources.history(rtype, id, count, after, since=since)
    # The self link holds only what history used: a parameter it does not take is visibly absent from it.
    return fhir_response(bundle.history(services.settings.fhir_base, path, used, page.items, page.next_after))


# Less used interactions after the hot ones: a search or create need not be tried against their paths first.


@router.patch("/{rtype:stored}/{id:fhirid}")
async def patch(request: Request) -> Response:
    """FHIR PATCH (R4 §3.1.0.6): JSON Patch, or JSON Merge Patch, applied to the current version and then
    checked, guarded and audited exactly as an update of it."""
    rtype, id = _path(request)
    _type(rtype, write=True)
    return await _patch(request, rtype, id)


@router.patch("/{rtype:stored}")
async def conditional_patch(request: Request) -> Response:
    """``PATCH [type]?criteria`` (R4 §3.1.0.6): the one match is patched; none is 404, several are 412."""
    rtype = request.path_params["rtype"]
    _type(rtype, write=True)
    target = services_of(request).resources.conditional_target(rtype, _criteria(request), "patch")
    if target is None:
        raise NotFound(f"No {rtype} matches the criteria of the conditional patch", expression=("criteria",))
    return await _patch(request, rtype, target.id)


async def _patch(request: Request, rtype: str, id: str) -> Response:
    apply = _patcher(request, parse_json_value(await request.body()))
    if_match = version_header(request.headers.get("if-match"))
    body, version = services_of(request).resources.patched(rtype, id, apply, if_match)
    return _update(request, rtype, id, body, version)


def _patcher(request: Request, document: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    kind = media_type(request)
    check_charset(request)
    if kind == "application/merge-patch+json" or (
        kind in ("application/json", "application/fhir+json") and isinstance(document, dict)
    ):
        return lambda body: merge_patch(body, document)
    if kind in ("application/json-patch+json", "application/json", "application/fhir+json"):
        return lambda body: json_patch(body, document)
    raise UnsupportedMediaType(
        f"Content-Type '{kind[:60]}' is not a patch format; send {' or '.join(PATCH_FORMATS)}",
        expression=("Content-Type",),
    )


@router.put("/{rtype:stored}")
async def conditional_update(request: Request) -> Response:
    """``PUT [type]?criteria`` (R4 §3.1.0.4.3): no match creates, one match is updated, several are 412."""
    rtype = request.path_params["rtype"]
    _type(rtype, write=True)
    body = await read_resource(request)
    target = services_of(request).resources.conditional_id(rtype, _criteria(request), body)
    if target is None:
        # It creates: the token must allow a create as well as the update it asked for.
        caller_of(request).require_interaction(rtype, "c")
        return _create(request, rtype, body, None)
    return _update(request, rtype, target, {**body, "id": target}, version_header(request.headers.get("if-match")))


@router.delete("/{rtype:stored}")
async def conditional_delete(request: Request) -> Response:
    """``DELETE [type]?criteria`` (R4 §3.1.0.7.1): no match is 204, one match is deleted, several are 412."""
    rtype = request.path_params["rtype"]
    _type(rtype, write=True)
    target = services_of(request).resources.conditional_target(rtype, _criteria(request), "delete")
    if target is None:
        return Response(status_code=204)
    return _delete(request, rtype, target.id)


# Included last: whatever no other route took under /fhir is an unknown type (or an id that is not a FHIR id).
fallback = APIRouter(prefix="/fhir", dependencies=[Depends(check_accept)])
_ANY = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@fallback.api_route("/{rtype}", methods=_ANY, include_in_schema=False)
@fallback.api_route("/{rtype}/{rest:path}", methods=_ANY, include_in_schema=False)
@refuser
async def unknown(request: Request, rtype: str, rest: str = "") -> Response:
    refusal = not_allowed(request.scope)  # a path served for other methods: 405, not "not found"
    if refusal is not None:
        raise refusal
    if rtype in DECLARED:
        raise NotFound(f"{rtype}/{rest[:64]} is not a resource or operation of this server", expression=("id",))
    raise NotFound(f"Resource type '{rtype[:64]}' is not supported", expression=("type",))

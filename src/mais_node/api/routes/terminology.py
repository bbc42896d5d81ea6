"""Terminology and validation operations (FHIR R4 terminology service; issue 4): ``CodeSystem/$lookup``,
``$validate-code`` on CodeSystem and ValueSet, ``ValueSet/$expand``, ``CodeSystem/$subsumes``, ``[type]/$validate``.

Each takes its parameters from the query string (GET) or a Parameters body (POST).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from mais_node.api.deps import ServicesDep
from mais_node.api.media import check_accept, fhir_response, read_resource
from mais_node.api.security import CallerDep
from mais_node.errors import InvalidRequest, Issue, NotFound
from mais_node.fhir.outcome import operation_outcome
from mais_node.fhir.search.parse import is_small_int

router = APIRouter(prefix="/fhir", dependencies=[Depends(check_accept)])


# The operations' parameters of cardinality 0..1 that the node reads (R4 terminology service operations).
_ONCE = ("url", "system", "code", "version", "display", "filter", "count", "offset", "codeA", "codeB", "coding")


async def _params(request: Request) -> dict[str, Any]:
    """Operation parameters: query string, then a Parameters body (value[x] or resource)."""
    given = [name for name, _ in request.query_params.multi_items()]
    params: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        body = await read_resource(request)
        if body.get("resourceType") != "Parameters":
            params["resource"] = body
        for parameter in body.get("parameter") or []:
            if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
                continue
            given.append(parameter["name"])
            value = parameter.get("resource")
            if value is None:
                value = next((v for k, v in parameter.items() if k.startswith("value")), None)
            if isinstance(value, dict) and parameter["name"] == "coding":
                params.setdefault("system", value.get("system"))
                params.setdefault("code", value.get("code"))
            params[parameter["name"]] = value
    repeated = next((name for name in _ONCE if given.count(name) > 1), None)
    if repeated is not None:  # "the last wins" would answer another question than the one asked
        raise InvalidRequest(f"'{repeated}' may be given once", expression=(repeated,))
    return params


ParamsDep = Annotated[dict[str, Any], Depends(_params)]


def _required(params: dict[str, Any], *names: str) -> list[str]:
    missing = [n for n in names if not isinstance(params.get(n), str) or not params[n]]
    if missing:
        raise InvalidRequest(f"Missing parameter(s): {', '.join(missing)}", expression=tuple(missing))
    return [str(params[n]) for n in names]


def _int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and is_small_int(value)):
        return int(value)
    raise InvalidRequest(f"'{name}' must be a non-negative integer", expression=(name,))


@router.get("/CodeSystem/$lookup", operation_id="lookup_get")
@router.post("/CodeSystem/$lookup", operation_id="lookup_post")
async def lookup(services: ServicesDep, caller: CallerDep, params: ParamsDep) -> Response:
    system, code = _required(params, "system", "code")
    return fhir_response(services.vocabularies().lookup(system, code, params.get("version")).to_parameters())


@router.get("/CodeSystem/$validate-code", operation_id="codesystem_validate_code_get")
@router.post("/CodeSystem/$validate-code", operation_id="codesystem_validate_code_post")
async def codesystem_validate_code(services: ServicesDep, caller: CallerDep, params: ParamsDep) -> Response:
    url = params.get("url") or params.get("system")
    (code,) = _required(params, "code")
    if not isinstance(url, str):
        raise InvalidRequest("Missing parameter: url", expression=("url",))
    result = services.vocabularies().validate_code(url, code, params.get("display"), version=params.get("version"))
    return fhir_response(result.to_parameters())


@router.get("/ValueSet/$validate-code", operation_id="valueset_validate_code_get")
@router.post("/ValueSet/$validate-code", operation_id="valueset_validate_code_post")
async def valueset_validate_code(services: ServicesDep, caller: CallerDep, params: ParamsDep) -> Response:
    url, code = _required(params, "url", "code")
    result = services.vocabularies().validate_code(url, code, params.get("display"), system=params.get("system"))
    return fhir_response(result.to_parameters())


@router.get("/ValueSet/$expand", operation_id="expand_get")
@router.post("/ValueSet/$expand", operation_id="expand_post")
async def expand(services: ServicesDep, caller: CallerDep, params: ParamsDep) -> Response:
    (url,) = _required(params, "url")
    expansion = services.vocabularies().expand(url, params.get("filter"), _int(params, "count"), _int(params, "offset"))
    return fhir_response(expansion)


@router.get("/CodeSystem/$subsumes", operation_id="subsumes_get")
@router.post("/CodeSystem/$subsumes", operation_id="subsumes_post")
async def subsumes(services: ServicesDep, caller: CallerDep, params: ParamsDep) -> Response:
    system, code_a, code_b = _required(params, "system", "codeA", "codeB")
    outcome = services.vocabularies().subsumes(system, code_a, code_b, params.get("version"))
    return fhir_response({"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": outcome}]})


def _posted_parameters(
    rtype: str, params: dict[str, Any], body: dict[str, Any], query_profile: str | None
) -> dict[str, Any]:
    """The operation's parameters. ``Parameters/$validate`` validates the posted Parameters itself, unless it wraps
    a Parameters resource in 'resource': a bare one's parameters are data, not the operation's."""
    wrapped = params.get("resource")
    if rtype != "Parameters" or (isinstance(wrapped, dict) and wrapped.get("resourceType") == "Parameters"):
        return params
    return {"resource": body, "profile": query_profile}


@router.post("/{rtype}/$validate")
async def validate(
    rtype: str, request: Request, services: ServicesDep, caller: CallerDep, params: ParamsDep
) -> Response:
    """``[type]/$validate``: every issue of the resource against the named profile (or its meta.profile)."""
    body = await read_resource(request)
    params = _posted_parameters(rtype, params, body, request.query_params.get("profile"))
    resource = params.get("resource")
    if not isinstance(resource, dict):
        raise InvalidRequest(
            "Give the resource to validate as the body or a 'resource' parameter", expression=("resource",)
        )
    if resource.get("resourceType") != rtype:
        raise InvalidRequest(f"The resource is not a {rtype}", expression=("resourceType",))
    profile = params.get("profile")
    if profile is not None and profile not in services.profiles.urls():
        raise NotFound(f"Profile '{str(profile)[:120]}' is not published by this node", expression=("profile",))
    issues = services.validator().validate(resource, profile)
    if not issues:
        issues = [Issue("The resource conforms", "informational", "information")]
    return fhir_response(operation_outcome(issues))

"""FHIR JSON on the wire (R4 §3.1.0.1.10): content types, ``_format``, and reading a resource body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mais_node.errors import NotAcceptable, UnsupportedMediaType
from mais_node.fhir import wire

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "json", "text/json"}
_ANY = {"*/*", "application/*", ""}


def fhir_response(document: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status, dict(headers or {}), media_type=f"{FHIR_JSON}; charset=utf-8")


def raw_response(payload: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(payload, status, dict(headers or {}), media_type=f"{FHIR_JSON}; charset=utf-8")


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


async def check_accept(request: Request) -> None:
    """Refuse a request that only accepts a format the node does not write (XML, Turtle)."""
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if _media(fmt) not in _JSON_TYPES:
            raise NotAcceptable(f"_format '{fmt[:40]}' is not supported; use json", expression=("_format",))
        return
    accept = request.headers.get("accept", "")
    kinds = {_media(part) for part in accept.split(",")}
    if kinds and not kinds & (_JSON_TYPES | _ANY) and not any(k.endswith("+json") for k in kinds):
        raise NotAcceptable("This server writes FHIR JSON only (application/fhir+json)", expression=("Accept",))


def media_type(request: Request) -> str:
    """The request body's media type, without parameters, in lower case."""
    return _media(request.headers.get("content-type", ""))


def check_content_type(request: Request) -> None:
    content_type = media_type(request)
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type[:60]}' is not supported; send application/fhir+json",
            expression=("Content-Type",),
        )


async def read_resource(request: Request) -> dict[str, Any]:
    """The JSON object in the body of a create or update; 415 for another media type, 400 for bad JSON."""
    check_content_type(request)
    return parse_json(await request.body())


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object, or 400 saying where the JSON breaks (or which property repeats, or holds a control character)."""
    return wire.loads(body)


def parse_json_value(body: bytes) -> Any:
    """Any JSON value (a JSON Patch document is an array), checked as ``parse_json`` checks an object."""
    return wire.loads_value(body)

"""FHIR JSON on the wire (R4 §3.1.0.1.10): content types, ``_format``, and reading a resource body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from mais_node.errors import InvalidRequest, NotAcceptable, UnsupportedMediaType
from mais_node.fhir import wire

FHIR_JSON = "application/fhir+json"
_JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir", "json", "text/json"}
_ANY = {"*/*", "application/*", ""}
_UTF8 = {"utf-8", "utf8"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


def check_charset(request: Request) -> None:
    """Refuse a JSON body declared in another charset than UTF-8 (415): JSON on the wire is UTF-8 (RFC 8259 §8.1),
    and reading latin-1 bytes as UTF-8 would turn "Zoë" into another name or refuse it as malformed JSON."""
    for parameter in request.headers.get("content-type", "").split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise UnsupportedMediaType(
                f"charset '{value.strip()[:40]}' is not supported; FHIR JSON is sent in utf-8",
                expression=("Content-Type",),
            )


def check_content_type(request: Request) -> None:
    content_type = media_type(request)
    if content_type not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type[:60]}' is not supported; send application/fhir+json",
            expression=("Content-Type",),
        )
    check_charset(request)


FORM = "application/x-www-form-urlencoded"
# What a urlencoded form may hold (WHATWG URL §5.1): anything else is percent-encoded, so a raw NUL, a control
# character or a byte above 0x7f means the body is not a form, whatever it claims to be.
_FORM_BYTES = re.compile(rb"[\x21-\x7e]*")


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The parameters of ``POST [type]/_search`` (R4 §3.1.1): a urlencoded form (415 for another media type, 400
    for a body that is no form or not UTF-8 once decoded), or none for an empty body."""
    body = await request.body()
    if not body:
        return []
    if media_type(request) != FORM:
        raise UnsupportedMediaType(
            f"A posted search is sent as {FORM}, not '{media_type(request)[:60]}'", expression=("Content-Type",)
        )
    check_charset(request)
    if not _FORM_BYTES.fullmatch(body):
        raise InvalidRequest(f"The body is not a {FORM} form: it holds unencoded bytes", expression=("body",))
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict", strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise InvalidRequest("The form's percent-encoded values are not UTF-8", expression=("body",)) from exc
    for name, value in pairs:
        if _CONTROL.search(name) or _CONTROL.search(value):
            raise InvalidRequest(
                f"The form parameter '{name[:40]}' holds a control character", expression=(name[:60] or "body",)
            )
    return pairs


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

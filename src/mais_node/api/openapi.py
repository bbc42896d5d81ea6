"""The node's OpenAPI 3.1 document (``/openapi.json``): every operation with its path and query parameters, the
bodies it reads, and every status it answers with the media type it sends (issue 13 §12).

The routes read their parameters and bodies from the request by hand (FastAPI's per-parameter validation costs
microseconds on every request, and FHIR bodies are checked by the node's own validator), so FastAPI alone
documented none of them, only "200 application/json". This module declares them in one table, by operation, and
fills them into the document FastAPI generates; ``tests/hostile/test_openapi.py`` validates the result and fuzzes
every operation from it. The console's pages (``/console``) are HTML for people, not part of the machine API:
they are left out of this document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mais_node.audit.query import AUDIT_SEARCH_PARAMS
from mais_node.fhir.search.params import COMMON, DECLARED

FHIR = "application/fhir+json"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
LEFT_OUT = ("/console",)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _fhir(resource_type: str | None = None) -> dict[str, Any]:
    """A FHIR resource of one type (or any): an object naming its ``resourceType``."""
    kind: dict[str, Any] = {"type": "string"} if resource_type is None else {"const": resource_type}
    return {"type": "object", "required": ["resourceType"], "properties": {"resourceType": kind}}


SCHEMAS: dict[str, Any] = {
    "Resource": _fhir(),
    "Bundle": {
        **_fhir("Bundle"),
        "required": ["resourceType", "type"],
        "properties": {"resourceType": {"const": "Bundle"}, "type": {"type": "string"}, "entry": {"type": "array"}},
    },
    "OperationOutcome": {
        **_fhir("OperationOutcome"),
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {"severity": {"type": "string"}, "code": {"type": "string"}},
                },
            },
        },
    },
    "Parameters": _fhir("Parameters"),
    "Task": _fhir("Task"),
    "AuditEvent": _fhir("AuditEvent"),
    "CapabilityStatement": _fhir("CapabilityStatement"),
    "JsonPatch": {
        "type": "array",
        "items": {"type": "object", "required": ["op", "path"], "properties": {"op": {"type": "string"}}},
    },
    "OAuthAnswer": {"type": "object", "description": "RFC 6749 §5.1 token, or §5.2 error"},
    "JsonObject": {"type": "object"},
    "JsonArray": {"type": "array", "items": {"type": "object"}},
}

# Every refusal is an OperationOutcome (DESIGN §10); which ones an operation can give depends on what it does.
_REFUSALS = {
    400: "Malformed request (a parameter, a header, the JSON)",
    401: "No token, or a token refused",
    403: "The token's scopes do not allow this",
    404: "Not found",
    405: "Not allowed on this type (AuditEvent is append-only)",
    406: "Only FHIR JSON is written",
    409: "Version conflict",
    410: "Deleted",
    412: "Precondition failed (If-Match, several matches of a conditional write)",
    413: "The request body is too large",
    415: "Unsupported media type or charset",
    422: "Not conformant to the profile, or a patch that cannot apply",
    429: "Rate limited (Retry-After)",
    503: "The audit trail or the store is unavailable",
}
_ALWAYS = (400, 404, 406, 413, 429, 503)
_SIGNED_IN = (401, 403)
_BODY = (415, 422)
_WRITE = (405, 409, 412)


@dataclass(frozen=True)
class Op:
    """What one operation answers (status: media type and schema; None for no body), reads and refuses."""

    answers: Mapping[int, tuple[str, str] | None]
    body: Mapping[str, str] = field(default_factory=dict)  # media type -> schema name
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    refuses: tuple[int, ...] = ()
    public: bool = False


def _fhir_body(schema: str = "Resource") -> dict[str, str]:
    return {FHIR: schema, JSON: schema}


_SEARCH = tuple(sorted({p.name for ps in DECLARED.values() for p in ps} | {p.name for p in COMMON}))
_RESULTS = ("_count", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude", "_cursor")
_SHAPE = ("_summary", "_elements")
_HISTORY = ("_count", "_since", "_cursor")
_AUDIT = (*sorted({name for name, _ in AUDIT_SEARCH_PARAMS}), "_count", "_sort", "_cursor")
_TERMINOLOGY = ("url", "system", "code", "version", "display", "filter", "count", "offset", "codeA", "codeB")
_OK_RESOURCE: Mapping[int, tuple[str, str] | None] = {200: (FHIR, "Resource")}
_WRITTEN = {200: (FHIR, "Resource"), 201: (FHIR, "Resource")}
_BUNDLE = {200: (FHIR, "Bundle")}
_PATCH = {FHIR: "Resource", JSON: "JsonPatch", "application/json-patch+json": "JsonPatch",
          "application/merge-patch+json": "JsonObject"}  # fmt: skip
_READ = Op({**_OK_RESOURCE, 304: None}, query=_SHAPE, headers=("If-None-Match", "If-Modified-Since"), refuses=(410,))
_IF_MATCH = ("If-Match",)
_TERM_GET = Op(_OK_RESOURCE, query=_TERMINOLOGY)
_TERM_POST = Op(_OK_RESOURCE, body=_fhir_body("Parameters"), query=_TERMINOLOGY, refuses=_BODY)

OPERATIONS: dict[tuple[str, str], Op] = {
    ("get", "/fhir/{rtype}/{id}"): _READ,
    ("put", "/fhir/{rtype}/{id}"): Op(_WRITTEN, body=_fhir_body(), headers=_IF_MATCH, refuses=(*_BODY, *_WRITE)),
    ("delete", "/fhir/{rtype}/{id}"): Op({204: None}, headers=_IF_MATCH, refuses=_WRITE),
    ("patch", "/fhir/{rtype}/{id}"): Op(_OK_RESOURCE, body=_PATCH, headers=_IF_MATCH, refuses=(*_BODY, *_WRITE, 410)),
    ("get", "/fhir/{rtype}"): Op(_BUNDLE, query=(*_SEARCH, *_RESULTS)),
    ("post", "/fhir/{rtype}"): Op(
        _WRITTEN, body=_fhir_body(), query=_SEARCH, headers=("If-None-Exist",), refuses=(*_BODY, *_WRITE)
    ),
    ("put", "/fhir/{rtype}"): Op(
        _WRITTEN, body=_fhir_body(), query=_SEARCH, headers=_IF_MATCH, refuses=(*_BODY, *_WRITE)
    ),
    ("delete", "/fhir/{rtype}"): Op({204: None}, query=_SEARCH, refuses=_WRITE),
    ("patch", "/fhir/{rtype}"): Op(
        _OK_RESOURCE, body=_PATCH, query=_SEARCH, headers=_IF_MATCH, refuses=(*_BODY, *_WRITE)
    ),
    ("post", "/fhir/{rtype}/_search"): Op(_BUNDLE, body={FORM: "SearchForm"}, query=_RESULTS, refuses=(415,)),
    ("get", "/fhir/_history"): Op(_BUNDLE, query=_HISTORY),
    ("get", "/fhir/{rtype}/_history"): Op(_BUNDLE, query=_HISTORY),
    ("get", "/fhir/{rtype}/{id}/_history"): Op(_BUNDLE, query=_HISTORY),
    ("get", "/fhir/{rtype}/{id}/_history/{vid}"): _READ,
    ("post", "/fhir/Task"): Op({201: (FHIR, "Task")}, body=_fhir_body("Task"), refuses=_BODY),
    ("post", "/fhir/Patient/$person-info-query"): Op(
        {200: (FHIR, "Parameters"), 202: (FHIR, "Task")}, body=_fhir_body("Parameters"), refuses=_BODY
    ),
    # The single view (issue 15): the view (a mais-single-view Task) at the live deadline, or at once (202).
    ("post", "/fhir/Patient/$single-view"): Op(
        {200: (FHIR, "Task"), 202: (FHIR, "Task")}, body=_fhir_body("Parameters"), refuses=_BODY
    ),
    ("post", "/fhir/Patient/$what-if"): Op({200: (FHIR, "Parameters")}, body=_fhir_body("Parameters"), refuses=_BODY),
    ("post", "/fhir/Patient/$match"): Op(_BUNDLE, body=_fhir_body(), refuses=_BODY),
    ("post", "/fhir/Task/{task_id}/$review"): Op(
        {200: (FHIR, "Task")}, body=_fhir_body("Parameters"), refuses=(*_BODY, 409)
    ),
    ("get", "/fhir/CodeSystem/$lookup"): _TERM_GET,
    ("post", "/fhir/CodeSystem/$lookup"): _TERM_POST,
    ("get", "/fhir/CodeSystem/$validate-code"): _TERM_GET,
    ("post", "/fhir/CodeSystem/$validate-code"): _TERM_POST,
    ("get", "/fhir/ValueSet/$validate-code"): _TERM_GET,
    ("post", "/fhir/ValueSet/$validate-code"): _TERM_POST,
    ("get", "/fhir/ValueSet/$expand"): _TERM_GET,
    ("post", "/fhir/ValueSet/$expand"): _TERM_POST,
    ("get", "/fhir/CodeSystem/$subsumes"): _TERM_GET,
    ("post", "/fhir/CodeSystem/$subsumes"): _TERM_POST,
    ("post", "/fhir/{rtype}/$validate"): Op(
        {200: (FHIR, "OperationOutcome")}, body=_fhir_body(), query=("profile",), refuses=_BODY
    ),
    ("get", "/fhir/AuditEvent"): Op(_BUNDLE, query=_AUDIT),
    ("get", "/fhir/AuditEvent/{seq}"): Op({200: (FHIR, "AuditEvent")}),
    ("get", "/fhir/AuditEvent/{seq}/_history/{version}"): Op({200: (FHIR, "AuditEvent")}),
    ("get", "/audit/checkpoint"): Op({200: (JSON, "JsonObject")}),
    ("post", "/audit/checkpoint"): Op({201: (JSON, "JsonObject")}),
    ("get", "/fhir/metadata"): Op({200: (FHIR, "CapabilityStatement")}, public=True),
    ("get", "/fhir/.well-known/smart-configuration"): Op({200: (JSON, "JsonObject")}, public=True),
    ("get", "/auth/jwks"): Op({200: (JSON, "JsonObject")}, public=True),
    # RFC 6749 §5.2: the token endpoint's own refusals are OAuth JSON; a body too large or a throttled address
    # are refused before OAuth is spoken, as every other refusal.
    ("post", "/auth/token"): Op(
        {200: (JSON, "OAuthAnswer"), 400: (JSON, "OAuthAnswer"), 401: (JSON, "OAuthAnswer")},
        body={FORM: "TokenForm"},
        public=True,
    ),
    ("get", "/auth/register/organisations"): Op({200: (JSON, "JsonArray")}),
    ("post", "/auth/register/organisations"): Op(
        {201: (JSON, "JsonObject")}, body={JSON: "OrganisationForm"}, refuses=(409, 415, 422)
    ),
    ("post", "/auth/register/organisations/{ods}/{action}"): Op({200: (JSON, "JsonObject")}, refuses=(409, 422)),
    ("get", "/auth/register/clients"): Op({200: (JSON, "JsonArray")}, query=("org",)),
    ("post", "/auth/register/clients"): Op(
        {201: (JSON, "JsonObject")}, body={JSON: "ClientForm"}, refuses=(409, 415, 422)
    ),
    ("post", "/auth/register/clients/{client_id}/revoke"): Op({200: (JSON, "JsonObject")}, refuses=(409,)),
}

FORMS: dict[str, Any] = {
    "SearchForm": {"type": "object", "properties": {name: {"type": "string"} for name in _SEARCH}},
    "TokenForm": {
        "type": "object",
        "properties": {
            "grant_type": {"type": "string"},
            "scope": {"type": "string"},
            "client_assertion_type": {"type": "string"},
            "client_assertion": {"type": "string"},
        },
    },
    "OrganisationForm": {
        "type": "object",
        "properties": {
            "ods": {"type": "string"},
            "name": {"type": "string"},
            "type": {"type": "string"},
            "verified": {"type": "boolean"},
        },
    },
    "ClientForm": {
        "type": "object",
        "properties": {
            "org": {"type": "string"},
            "scope": {"type": "string"},
            "jwks": {"type": "object"},
            "jwks_uri": {"type": "string"},
        },
    },
}

# The path parameters the routes take from their convertors (api/paths.py), as the router matches them.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "rtype": {"type": "string", "enum": sorted(DECLARED)},
    "id": {"type": "string", "pattern": "^[A-Za-z0-9.\\-]{1,64}$"},
    "vid": {"type": "string", "pattern": "^[0-9]{1,18}$"},
}
_INTEGER_QUERY = {"_count", "count", "offset"}


def _content(media: str, schema: str) -> dict[str, Any]:
    return {media: {"schema": _ref(schema)}}


def _responses(op: Op) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, body in op.answers.items():
        answer: dict[str, Any] = {"description": "OK" if status < 300 else "Not modified"}
        if body is not None:
            answer["content"] = _content(*body)
        answers[str(status)] = answer
    refusals = {*_ALWAYS, *op.refuses, *(() if op.public else _SIGNED_IN)}
    for status in sorted(refusals):
        answer = answers.setdefault(str(status), {"description": _REFUSALS[status], "content": {}})
        answer["content"] = {**answer["content"], **_content(FHIR, "OperationOutcome")}
    return answers


def _path_parameters(path: str, declared: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    have = {p["name"] for p in declared if p.get("in") == "path"}
    return [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS.get(name, {"type": "string"})}
        for name in re.findall(r"{([^}:]+)}", path)
        if name not in have
    ]


# The conditional request headers (R4 §3.1.0.4.2, §3.1.0.8; RFC 9110 §13): declared so that they are fuzzed too.
HEADERS: dict[str, dict[str, Any]] = {
    "If-Match": {"type": "string", "description": 'the version ETag the write expects, W/"3"'},
    "If-None-Match": {"type": "string", "description": "version ETags the client holds (304 when current)"},
    "If-Modified-Since": {"type": "string", "description": "an HTTP-date (304 when not changed since)"},
    "If-None-Exist": {"type": "string", "description": "search criteria of a conditional create"},
}


def _header_parameters(op: Op) -> list[dict[str, Any]]:
    return [{"name": name, "in": "header", "required": False, "schema": HEADERS[name]} for name in op.headers]


def _query_parameters(op: Op, declared: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    have = {p["name"] for p in declared if p.get("in") == "query"}
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0} if name in _INTEGER_QUERY else {"type": "string"},
        }
        for name in op.query
        if name not in have
    ]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with every declared operation's parameters, bodies and answers (a route not declared
    keeps what FastAPI made of it; the tests refuse one)."""
    paths: dict[str, Any] = {}
    for path, operations in document["paths"].items():
        if path.startswith(LEFT_OUT):
            continue
        for method, operation in operations.items():
            op = OPERATIONS.get((method, path))
            if op is None:
                continue
            declared = operation.get("parameters", [])
            parameters = [
                *declared,
                *_path_parameters(path, declared),
                *_query_parameters(op, declared),
                *_header_parameters(op),
            ]
            if parameters:
                operation["parameters"] = parameters
            if op.body:
                content = {media: {"schema": _ref(schema)} for media, schema in op.body.items()}
                operation["requestBody"] = {"required": True, "content": content}
            operation["responses"] = _responses(op)
            if not op.public:
                operation["security"] = [{"bearer": []}]
        paths[path] = operations
    document["paths"] = paths
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "HTTPValidationError" not in orjson.dumps(paths).decode():  # FastAPI's 422; the node answers 400 instead
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
    schemas.update(SCHEMAS)
    schemas.update(FORMS)
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

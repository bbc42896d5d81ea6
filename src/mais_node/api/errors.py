"""The one place where errors become HTTP: status per error class, body an OperationOutcome (DESIGN §10)."""

from __future__ import annotations

import errno
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mais_node import errors
from mais_node.api.media import fhir_response
from mais_node.api.methods import NotAllowedHere, not_allowed
from mais_node.errors import Issue, MaisError
from mais_node.fhir.outcome import operation_outcome

log = logging.getLogger("mais_node.api")

# Most specific first: the first class an error is an instance of gives its status.
STATUS: tuple[tuple[type[MaisError], int], ...] = (
    (errors.UnknownSearchParameter, 400),
    (errors.InvalidRequest, 400),
    (errors.NotAuthenticated, 401),
    (errors.Forbidden, 403),
    (errors.Gone, 410),
    (errors.NotFound, 404),
    (errors.MethodNotAllowed, 405),
    (errors.NotAcceptable, 406),
    (errors.VersionConflict, 409),
    (errors.PreconditionFailed, 412),
    (errors.PayloadTooLarge, 413),
    (errors.UnsupportedMediaType, 415),
    (errors.NotConformant, 422),
    (errors.RateLimited, 429),
    (errors.AuditUnavailable, 503),
    (errors.Unavailable, 503),
    (MaisError, 500),
)

_HTTP_CODES = {404: "not-found", 405: "not-supported", 401: "login", 403: "forbidden"}


def status_of(error: MaisError) -> int:
    return next(status for cls, status in STATUS if isinstance(error, cls))


def outcome_response(error: MaisError) -> Response:
    status = status_of(error)
    headers: dict[str, str] = {}
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, errors.NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="mais-node"'
    if isinstance(error, NotAllowedHere):
        headers["Allow"] = ", ".join(error.allow)
    return fhir_response(operation_outcome(error.issues), status, headers)


async def _mais(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MaisError)
    return outcome_response(exc)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    refusal = not_allowed(request.scope) if exc.status_code == 405 else None
    if refusal is not None:  # Starlette names the first matching route's methods only
        return outcome_response(refusal)
    code = _HTTP_CODES.get(exc.status_code, "processing")
    message = "Not found" if exc.status_code == 404 else str(exc.detail)
    return fhir_response(operation_outcome([Issue(message, code)]), exc.status_code, dict(exc.headers or {}))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue(str(e.get("msg", "invalid")), "invalid", expression=(".".join(str(p) for p in e.get("loc", ())),))
        for e in exc.errors()
    ]
    return fhir_response(operation_outcome(issues), 400)


# Out of file descriptors is a limit of the process, not a fault of the request: 503, as at the node's other limits.
_EXHAUSTED = (errno.EMFILE, errno.ENFILE)


async def _os_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OSError)
    if exc.errno not in _EXHAUSTED:
        return await _unexpected(request, exc)
    log.error("out of file descriptors: %s", exc.strerror, extra={"request_id": request.headers.get("x-request-id")})
    response = outcome_response(errors.Unavailable("The node is at its limit of open files: try again shortly"))
    response.headers["Retry-After"] = "1"
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"request_id": request.headers.get("x-request-id")})
    return fhir_response(operation_outcome([Issue("Internal Server Error", "exception", "fatal")]), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(MaisError, _mais)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(Exception, _unexpected)

"""ASGI middleware: request id, the caller's address, body size and time limits and metrics, in one pass with no
per-request task switches."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mais_node.api.proxies import Network, believed_client
from mais_node.audit.trace import TRACE_ID, trace_id_of
from mais_node.errors import Issue
from mais_node.fhir.outcome import operation_outcome

log = logging.getLogger("mais_node.access")
edge_log = logging.getLogger("mais_node.edge")  # what happened to a request, beside the per-request access line
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")  # matched whole (fullmatch)
_MAX_LABEL_SETS = 4096


class Metrics:
    """The node's Prometheus metrics, in a registry of its own (one per app, so tests do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mais_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mais_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        """Count one answer and its time; the labelled children are looked up once per label set, not per request.

        Routes are the app's templates (or "unmatched") and methods the HTTP parser's, so the label sets are few;
        the remembered ones are capped all the same.
        """
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, status), self.latency.labels(method, route))
            if len(self._children) < _MAX_LABEL_SETS:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


# Not an HTTP status the node sends: the metrics' and log's word (nginx's) for a caller gone before the answer.
DISCONNECTED = 499


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: Metrics,
        body_timeout: float = 30.0,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.body_timeout = body_timeout
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        if self.trusted_proxies:
            scope["client"] = believed_client(scope, self.trusted_proxies)
        traceparent = (_header(scope, b"traceparent") or b"").decode("latin-1")
        traced = TRACE_ID.set(trace_id_of(traceparent))  # named in every audit record written for the request
        try:
            await self._serve(scope, receive, send, started, request_id)
        finally:
            TRACE_ID.reset(traced)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, started: float, request_id: str) -> None:
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            status = await self._too_large(send_with_id)
        else:
            received = 0
            complete = False
            # The whole body within one deadline from the start, so a trickle of a byte a second is cut too.
            deadline = asyncio.get_running_loop().time() + self.body_timeout

            async def limited_receive() -> Message:
                nonlocal received, complete
                if complete:  # after the body the app may wait on receive() for the disconnect: no deadline then
                    return await receive()
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await receive()
                except TimeoutError:
                    raise _TooSlow from None
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        raise _TooLarge
                    complete = not message.get("more_body", False)
                return message

            try:
                await self.app(scope, limited_receive, send_with_id)
            except _TooLarge:
                if response_started:
                    raise
                status = await self._too_large(send_with_id)
            except _TooSlow:
                if response_started:
                    raise
                status = await self._too_slow(send_with_id)
            except ClientDisconnect:
                # The caller went away mid-body: nothing to answer, nothing broken; one line, not two tracebacks.
                status = DISCONNECTED
                edge_log.info(
                    "%s %s: the client disconnected before its body was complete (request %s)",
                    scope["method"],
                    scope["path"],
                    request_id,
                    extra={"request_id": request_id},
                )
        route = _route(scope)
        elapsed = time.perf_counter() - started
        self.metrics.observe(scope["method"], route, str(status), elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %s %.1fms",
                scope["method"],
                route,
                status,
                elapsed * 1000,
                extra={"request_id": request_id},
            )

    async def _too_large(self, send: Send) -> int:
        return await _refuse(send, 413, f"The request body exceeds {self.max_body_bytes} bytes", "too-costly")

    async def _too_slow(self, send: Send) -> int:
        return await _refuse(send, 408, f"The request body was not received within {self.body_timeout:g} s", "timeout")


async def _refuse(send: Send, status: int, message: str, code: str) -> int:
    """An OperationOutcome answered before the app could answer, closing the connection (the rest of the body is
    not read)."""
    body = orjson.dumps(operation_outcome([Issue(message, code)]))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/fhir+json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    if given is not None:
        text = given.decode("latin-1")
        if _SAFE_ID.fullmatch(text):
            return text
    return os.urandom(16).hex()  # 128 random bits as 32 hex digits, like uuid4().hex without the UUID object


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.isdigit() else None


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"

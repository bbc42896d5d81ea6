"""The HTTP server's own bounds (issue 13 item 3): how long a caller may take to send its headers, how many
connections the node holds, and how many of them one address may hold.

uvicorn has none of these: a connection that never finishes its headers is held for ever (its keep-alive timer runs
only between requests, and ``limit_concurrency`` is checked once the headers are complete), so 20,000 half-sent
requests took every file descriptor of the process. ``BoundedHttpToolsProtocol`` is uvicorn's httptools protocol
with three additions, all decided when a connection is made or a request's headers begin or end:

- a header deadline (``MAIS_HEADER_TIMEOUT_SECONDS``) from the connection's first byte, or the request's, to the end
  of its headers: past it the caller is answered 408 and the connection closed;
- a cap on connections per worker (``MAIS_MAX_CONNECTIONS``, never more than the open-file limit leaves room for):
  at the cap, the connection idle longest without a request in progress is closed to make room, and only when
  every connection is busy with a request is the newcomer answered 503;
- a cap per address (``MAIS_MAX_CONNECTIONS_PER_ADDRESS``), beyond which a newcomer is answered 503; a trusted
  reverse proxy (``MAIS_TRUSTED_PROXIES``) is exempt, since all its callers share its address.

The body's deadline is the ASGI app's (``api/middleware.py``), where a 408 can still be answered as a FHIR
OperationOutcome. Serve with ``http="mais_node.serving:BoundedHttpToolsProtocol"``.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
import resource
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.config import LOGGING_CONFIG, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mais_node.config import Settings, get_settings
from mais_node.errors import Issue
from mais_node.fhir.outcome import operation_outcome

PROTOCOL = "mais_node.serving:BoundedHttpToolsProtocol"
# File descriptors kept for what is not a connection: the store, the rules files, logs, the listening socket.
RESERVED_FILES = 128

log = logging.getLogger("mais_node.serving")


def _answer(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP/1.1 response written straight to the socket (no request was read): an OperationOutcome."""
    code = "throttled" if status == 503 else "timeout"
    body = orjson.dumps(operation_outcome([Issue(message, code)]))
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/fhir+json; charset=utf-8",
        f"content-length: {len(body)}",
        "connection: close",
        *(["retry-after: 1"] if status == 503 else []),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout: float
    max_connections: int
    per_address: int
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        room = settings.max_connections if soft == resource.RLIM_INFINITY else soft - RESERVED_FILES
        return cls(
            settings.header_timeout_seconds,
            max(1, min(settings.max_connections, room)),
            settings.max_connections_per_address,
            settings.trusted_proxy_networks,
        )

    def exempts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.exempt)


class _Connections:
    """One worker's connections: per address, and those waiting for a request's headers, oldest first."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.per_address: Counter[str] = Counter()
        self.waiting: dict[BoundedHttpToolsProtocol, None] = {}  # insertion-ordered: the oldest idle first
        self.refused: Counter[str] = Counter()
        self.reported = 0.0

    def refuse(self, why: str, now: float) -> None:
        """Count a refused connection; say so in the log at most every 10 s (an attack is thousands a second)."""
        self.refused[why] += 1
        if now - self.reported >= 10:
            log.warning(
                "connections refused in the last %.0f s: %s (open: %d per worker at most, %d per address)",
                min(now - self.reported, 10),
                ", ".join(f"{n} {reason}" for reason, n in self.refused.items()),
                self.limits.max_connections,
                self.limits.per_address,
            )
            self.refused.clear()
            self.reported = now


_WORKERS: weakref.WeakKeyDictionary[ServerState, _Connections] = weakref.WeakKeyDictionary()
BUSY = _answer(503, "Service Unavailable", "The node is holding as many connections as it can: try again shortly")
CROWDED = _answer(503, "Service Unavailable", "Too many connections from this address: try again shortly")
SLOW = _answer(408, "Request Timeout", "The request headers were not received in time")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        worker = _WORKERS.get(server_state)
        if worker is None:
            worker = _WORKERS[server_state] = _Connections(ConnectionLimits.of(get_settings()))
        self._worker = worker
        self._host: str | None = None
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits, worker = self._worker.limits, self._worker
        host = self.client[0] if self.client else "unknown"
        if worker.per_address[host] >= limits.per_address and not limits.exempts(host):
            self._refuse(CROWDED, "from an address at its limit")
            return
        if len(self.connections) > limits.max_connections and not self._evict_idle():
            self._refuse(BUSY, "with every connection busy")
            return
        self._host = host
        worker.per_address[host] += 1
        worker.waiting[self] = None
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._worker.waiting.pop(self, None)
        if self._host is not None:
            count = self._worker.per_address[self._host] - 1
            if count > 0:
                self._worker.per_address[self._host] = count
            else:
                del self._worker.per_address[self._host]
            self._host = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._worker.waiting.pop(self, None)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.cycle is None or self.cycle.response_complete  # else a pipelined request has just started
        if idle and not self.transport.is_closing() and self._host is not None:
            self._worker.waiting[self] = None  # idle on keep-alive: the first to go when room is needed

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self._worker.limits.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(SLOW)
            self.transport.close()

    def _evict_idle(self) -> bool:
        """Close the connection idle longest (no request in progress) to make room; False when there is none."""
        for oldest in self._worker.waiting:
            if oldest is not self:
                self._worker.waiting.pop(oldest)
                oldest._disarm()
                oldest.transport.close()
                return True
        return False

    def _refuse(self, answer: bytes, why: str) -> None:
        self._worker.refuse(why, self.loop.time())
        self.transport.write(answer)
        self.transport.close()


def log_config(settings: Settings, *, access: bool = False) -> dict[str, Any]:
    """uvicorn's logging, with the node's own loggers on the same stream at the settings' level.

    Without it the node's records reach only Python's last-resort handler (warnings and above, no level prefix).
    The per-request access line is off unless asked for (``mais serve --access-log``, the demo): off, it costs
    nothing per request (the benchmark's setting).
    """
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mais_node"] = {"handlers": ["default"], "level": settings.log_level.upper(), "propagate": False}
    config["loggers"]["mais_node.access"] = {"level": "INFO" if access else "WARNING"}
    return config

"""The ``Peers`` port over HTTP with httpx (issue 15 item 4): how this node asks another node.

Per partner: its token endpoint read once from ``[base]/.well-known/smart-configuration``, and one access token
(SMART Backend Services, a client assertion signed with this node's identity key) reused until shortly before it
expires, one request for it at a time. Every call: the fan-out's deadline bounds the whole exchange (connect, each
read, and the body as a whole, so a partner trickling a byte a second is cut off at the deadline); no redirect is
followed; the body is read up to a size limit and cut off there; one retry on a connection error, none on any answer;
a W3C ``traceparent`` on every request. httpx errors never leave this module: they become an ``Exchange`` failure.

Requests go straight to an httpx transport, one per partner origin (its own connection pool), not through
``httpx.AsyncClient``: the client's redirect, auth and cookie steps do nothing here (no redirect is followed, no
cookie is kept) yet cost about a fifth of the requester's CPU per call (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

from mais_node import __version__
from mais_node.client import client_assertion
from mais_node.network.peers import Deadline, Partner, Trace
from mais_node.network.rows import Exchange, Failure, Stage

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "mais/enquiry system/Task.r"  # ask, and read one's own referred enquiry Task
RENEW_BEFORE = 30.0  # seconds before expiry a cached token is no longer used
DEFAULT_MAX_BYTES = 1024 * 1024
CONNECT_TIMEOUT = 3.0
FHIR_JSON = "application/fhir+json"
USER_AGENT = {"User-Agent": f"mais-node/{__version__}"}


@dataclass(frozen=True, slots=True)
class Identity:
    """This node as a system in the register: its client id, and the private key it signs assertions with now."""

    client_id: str
    signing_key: Callable[[], dict[str, Any] | None]


@dataclass
class _Token:
    value: str
    renew_at: float  # monotonic


class HttpPeers:
    def __init__(
        self,
        identity: Identity,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        connect_timeout: float = CONNECT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 16,
    ) -> None:
        self.identity = identity
        self.max_bytes = max_bytes
        self.connect_timeout = connect_timeout
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._given = transport  # the tests' in-process or hostile transport, for every origin
        self._tls = httpx.create_ssl_context()  # once: loading the CA bundle costs ~20 ms a pool
        # One transport (one connection pool) per partner origin: httpcore matches each request against every
        # connection of its pool, so one pool for 200 partners made a first fan-out quadratic (4 s; bench).
        self._transports: dict[tuple[str, str], httpx.AsyncBaseTransport] = {}
        self._token_urls: dict[str, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.token_requests = 0  # how many token requests were sent (the cache's effect, for tests and metrics)

    async def ask(self, partner: Partner, parameters: dict[str, Any], *, deadline: Deadline, trace: Trace) -> Exchange:
        url = f"{partner.base.rstrip('/')}/Patient/$person-info-query"
        body = orjson.dumps(parameters)
        return await self._authorised(partner, Stage.QUERY, "POST", url, body, deadline, trace)

    async def follow(self, partner: Partner, task: str, *, deadline: Deadline, trace: Trace) -> Exchange:
        if _origin(task) != _origin(partner.base):  # our bearer token goes only to the endpoint's own origin
            return Exchange(Stage.FOLLOW, failure=Failure.REFUSED_HERE, detail="a Task off the endpoint's origin")
        return await self._authorised(partner, Stage.FOLLOW, "GET", task, None, deadline, trace)

    async def aclose(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()

    def _transport(self, url: str) -> httpx.AsyncBaseTransport:
        origin = _origin(url)
        transport = self._transports.get(origin)
        if transport is None:
            transport = self._given or httpx.AsyncHTTPTransport(verify=self._tls, limits=self._limits)
            self._transports[origin] = transport
        return transport

    # -- one authorised call ------------------------------------------------------------------------------------
    async def _authorised(
        self,
        partner: Partner,
        stage: Stage,
        method: str,
        url: str,
        body: bytes | None,
        deadline: Deadline,
        trace: Trace,
    ) -> Exchange:
        token = await self._token(partner, deadline, trace)
        if isinstance(token, Exchange):
            return token
        headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
        exchange = await self._call(stage, method, url, headers, body, deadline, trace)
        if exchange.status == 401:  # revoked or expired early at the partner: the next call gets a new one
            self._tokens.pop(partner.base, None)
        return exchange

    async def _token(self, partner: Partner, deadline: Deadline, trace: Trace) -> str | Exchange:
        lock = self._locks.setdefault(partner.base, asyncio.Lock())
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with lock:  # one token request per partner at a time: the others wait and reuse it
                    cached = self._tokens.get(partner.base)
                    if cached is not None and time.monotonic() < cached.renew_at:
                        return cached.value
                    return await self._new_token(partner, deadline, trace)
        except TimeoutError:
            return Exchange(Stage.TOKEN, failure=Failure.TIMEOUT, detail="waiting for an access token")

    async def _new_token(self, partner: Partner, deadline: Deadline, trace: Trace) -> str | Exchange:
        token_url = self._token_urls.get(partner.base)
        if token_url is None:
            discovery = await self._call(
                Stage.TOKEN,
                "GET",
                f"{partner.base.rstrip('/')}/.well-known/smart-configuration",
                {"Accept": "application/json"},
                None,
                deadline,
                trace,
            )
            token_url = _token_endpoint(discovery)
            if token_url is None:
                return discovery
            self._token_urls[partner.base] = token_url
        key = self.identity.signing_key()
        if key is None:
            return Exchange(Stage.TOKEN, failure=Failure.REFUSED_HERE, detail="this node has no identity key")
        form = {
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self.identity.client_id, token_url, key),
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        self.token_requests += 1
        encoded = urlencode(form).encode()
        answer = await self._call(Stage.TOKEN, "POST", token_url, headers, encoded, deadline, trace)
        granted = _json(answer.body) if answer.status == 200 else None
        value = granted.get("access_token") if isinstance(granted, dict) else None
        if not isinstance(value, str) or not value:
            return answer
        lifetime = granted.get("expires_in") if isinstance(granted, dict) else None
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
        self._tokens[partner.base] = _Token(value, time.monotonic() + max(0.0, seconds - RENEW_BEFORE))
        return value

    async def _call(
        self,
        stage: Stage,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        deadline: Deadline,
        trace: Trace,
    ) -> Exchange:
        """One request, retried once on a connection error while the deadline allows; never on an answer."""
        for attempt in (1, 2):
            exchange = await self._once(
                stage, method, url, headers | {"traceparent": trace.traceparent()}, body, deadline
            )
            if exchange.failure is not Failure.CONNECT or attempt == 2 or deadline.expired():
                return exchange
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, stage: Stage, method: str, url: str, headers: dict[str, str], body: bytes | None, deadline: Deadline
    ) -> Exchange:
        remaining = deadline.remaining()
        if remaining <= 0:
            return Exchange(stage, failure=Failure.TIMEOUT, detail="the deadline had passed")
        timeout = httpx.Timeout(remaining, connect=min(self.connect_timeout, remaining))
        try:
            async with asyncio.timeout(remaining):
                request = httpx.Request(
                    method, url, headers=headers | USER_AGENT, content=body, extensions={"timeout": timeout.as_dict()}
                )
                response = await self._transport(url).handle_async_request(request)
                try:
                    return await self._read(stage, response)
                finally:
                    await response.aclose()
        except TimeoutError:
            return Exchange(stage, failure=Failure.TIMEOUT, detail=f"{_host(url)} still answering at the deadline")
        except httpx.TimeoutException:
            return Exchange(stage, failure=Failure.TIMEOUT, detail=f"{_host(url)} did not answer in time")
        except httpx.ConnectError:
            return Exchange(stage, failure=Failure.CONNECT, detail=_host(url))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.DecodingError):
            return Exchange(stage, failure=Failure.PROTOCOL, detail=_host(url))
        except httpx.HTTPError as exc:
            return Exchange(stage, failure=Failure.PROTOCOL, detail=f"{_host(url)} ({type(exc).__name__})")

    async def _read(self, stage: Stage, response: httpx.Response) -> Exchange:
        headers = {k.lower(): v for k, v in response.headers.items()}
        declared = headers.get("content-length", "")
        too_large = Exchange(stage, response.status_code, headers, failure=Failure.TOO_LARGE, detail=self._limit())
        if declared.isdigit() and int(declared) > self.max_bytes:
            return too_large
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                return too_large
        return Exchange(stage, response.status_code, headers, bytes(body))

    def _limit(self) -> str:
        return f"more than {self.max_bytes} bytes"


def _token_endpoint(discovery: Exchange) -> str | None:
    document = _json(discovery.body) if discovery.status == 200 and discovery.failure is None else None
    url = document.get("token_endpoint") if isinstance(document, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _host(url: str) -> str:
    return urlsplit(url).netloc

"""The httpx ``Peers`` adapter (issue 15 item 4): a real node's token endpoint and ``$person-info-query`` in process,
hostile partners on real loopback sockets (one that never answers, one that trickles a byte at a time), and the
rules of the road: one token per partner cached until near expiry, one deadline for the whole exchange, no redirect
followed, a body size limit, one retry on a connection error and none on an answer, a ``traceparent`` on every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpcore
import httpx
import orjson
import pytest

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.adapters.peers_http import HttpPeers, Identity
from mais_node.client import Subject, enquiry_parameters
from mais_node.network.peers import Deadline, Partner, Trace
from mais_node.network.rows import Failure, RowState, Stage, verdict
from tests.api.conftest import ADMIN_ACTOR, Node, make_node

KEY = generate_private_jwk("ES384")
IDENTITY = Identity("node-la0001", lambda: KEY)
ASK = enquiry_parameters(
    Subject(nhs_number="9991316825", family="Nobody", given="Known", birth_date="2015-01-01"),
    "s47-enquiry",
    ["is-known", "is-open", "contact"],
    [],
)
PARTNERS = 200
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
PARTNER = Partner("POL001", "Police", "https://pol001.example/fhir")


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


# -- against a real node in process -------------------------------------------------------------------------------
@pytest.fixture
def partner(tmp_path: Path) -> Iterator[tuple[Node, Identity]]:
    """A partner's node that knows this node's organisation (LA0001) and its system (our identity's public key)."""
    for node in make_node(tmp_path):
        node.organisation("LA0001")
        client = node.services.auth.clients.add(
            "LA0001", ["mais/enquiry", "system/Task.rs"], actor=ADMIN_ACTOR, jwks=public_jwks(KEY)
        )
        yield node, Identity(client.client_id, lambda: KEY)


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def in_process(node: Node) -> tuple[Recording, Partner]:
    transport = Recording(httpx.ASGITransport(app=node.http.app))
    return transport, Partner("NODE01", "Partner", f"{node.services.settings.public_base}/fhir")


def test_a_real_node_answers_not_known_with_one_token_for_many_asks(partner: tuple[Node, Identity]) -> None:
    transport, peer = in_process(partner[0])

    async def scenario() -> list[Any]:
        peers = HttpPeers(partner[1], transport=transport)
        trace = Trace.new()
        try:
            first = await peers.ask(peer, ASK, deadline=Deadline.after(10), trace=trace)
            rest = await asyncio.gather(
                *(peers.ask(peer, ASK, deadline=Deadline.after(10), trace=trace) for _ in range(5))
            )
            return [first, *rest, peers.token_requests, trace]
        finally:
            await peers.aclose()

    *exchanges, token_requests, trace = run(scenario())
    assert [verdict(e).state for e in exchanges] == [RowState.NOT_KNOWN] * 6
    assert token_requests == 1
    paths = [r.url.path for r in transport.requests]
    assert paths.count("/fhir/.well-known/smart-configuration") == 1
    assert paths.count("/auth/token") == 1
    for request in transport.requests:
        header = request.headers["traceparent"]
        assert TRACEPARENT.match(header)
        assert header.split("-")[1] == trace.trace_id
    assert len({r.headers["traceparent"] for r in transport.requests}) == len(transport.requests)  # a span each


def test_a_partner_that_does_not_know_our_system_refuses_the_token(partner: tuple[Node, Identity]) -> None:
    transport, peer = in_process(partner[0])
    stranger = Identity("not-registered", lambda: KEY)

    async def scenario() -> Any:
        peers = HttpPeers(stranger, transport=transport)
        try:
            return await peers.ask(peer, ASK, deadline=Deadline.after(10), trace=Trace.new())
        finally:
            await peers.aclose()

    exchange = run(scenario())
    assert exchange.stage is Stage.TOKEN
    found = verdict(exchange)
    assert found.state is RowState.ERROR
    assert found.reason is not None
    assert "token endpoint refused us (401: invalid_client" in found.reason


# -- against scripted answers (httpx.MockTransport) ---------------------------------------------------------------
Handler = Callable[[httpx.Request], httpx.Response]


def partner_answering(query: Handler, *, expires_in: int = 300, task: Handler | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/smart-configuration"):
            return httpx.Response(200, json={"token_endpoint": "https://pol001.example/auth/token"})
        if path == "/auth/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "bearer", "expires_in": expires_in})
        if path.endswith("/$person-info-query"):
            return query(request)
        assert task is not None, path
        return task(request)

    return httpx.MockTransport(handle)


def ask_once(transport: httpx.AsyncBaseTransport, *, seconds: float = 5.0, max_bytes: int = 1024 * 1024) -> Any:
    async def scenario() -> Any:
        peers = HttpPeers(IDENTITY, transport=transport, max_bytes=max_bytes)
        try:
            return await peers.ask(PARTNER, ASK, deadline=Deadline.after(seconds), trace=Trace.new())
        finally:
            await peers.aclose()

    return run(scenario())


def not_known(_: httpx.Request) -> httpx.Response:
    match = {"resourceType": "Parameters", "parameter": [{"name": "match", "valueBoolean": False}]}
    return httpx.Response(200, json=match, headers={"content-type": "application/fhir+json"})


def test_a_redirect_to_another_host_is_not_followed() -> None:
    queried: list[str] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        queried.append(str(request.url))
        return httpx.Response(302, headers={"location": "https://evil.example/fhir/Patient/$person-info-query"})

    found = verdict(ask_once(partner_answering(redirect)))
    assert found.state is RowState.ERROR
    assert found.reason is not None
    assert "redirect to evil.example" in found.reason
    assert queried == ["https://pol001.example/fhir/Patient/$person-info-query"]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_an_oversized_body_is_cut_off_at_the_limit(declared: bool) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(2048):  # 2 GB in 1 MiB chunks, were it read whole
            sent.append(1)
            yield b"x" * (1024 * 1024)

    def huge(_: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/fhir+json"}
        if declared:
            return httpx.Response(200, headers=headers | {"content-length": str(2 * 1024**3)}, content=b"")
        return httpx.Response(200, headers=headers, content=endless())

    exchange = ask_once(partner_answering(huge), max_bytes=1024 * 1024)
    assert exchange.failure is Failure.TOO_LARGE
    assert verdict(exchange).state is RowState.ERROR
    assert len(sent) <= 2  # read up to the limit, not the rest


def test_a_connection_error_is_retried_once_and_an_answer_never() -> None:
    attempts: list[int] = []

    def flaky(_: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused")
        return not_known(_)

    assert verdict(ask_once(partner_answering(flaky))).state is RowState.NOT_KNOWN
    assert len(attempts) == 2

    failing: list[int] = []

    def broken(_: httpx.Request) -> httpx.Response:
        failing.append(1)
        return httpx.Response(500)

    assert verdict(ask_once(partner_answering(broken))).state is RowState.ERROR
    assert len(failing) == 1


def test_a_partner_always_refusing_the_connection_is_an_error_after_two_attempts() -> None:
    attempts: list[int] = []

    def down(_: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectError("connection refused")

    found = verdict(ask_once(partner_answering(down)))
    assert found.state is RowState.ERROR
    assert found.reason is not None
    assert "could not connect" in found.reason
    assert len(attempts) == 2


def test_a_token_is_renewed_shortly_before_it_expires() -> None:
    async def scenario(expires_in: int) -> int:
        peers = HttpPeers(IDENTITY, transport=partner_answering(not_known, expires_in=expires_in))
        try:
            for _ in range(3):
                await peers.ask(PARTNER, ASK, deadline=Deadline.after(5), trace=Trace.new())
            return peers.token_requests
        finally:
            await peers.aclose()

    assert run(scenario(300)) == 1
    assert run(scenario(30)) == 3  # within RENEW_BEFORE of its expiry: never used


def test_a_401_drops_the_cached_token() -> None:
    answers = iter([httpx.Response(401), *([None] * 3)])

    def once_refused(request: httpx.Request) -> httpx.Response:
        return next(answers) or not_known(request)

    async def scenario() -> tuple[list[RowState], int]:
        peers = HttpPeers(IDENTITY, transport=partner_answering(once_refused))
        try:
            states = [
                verdict(await peers.ask(PARTNER, ASK, deadline=Deadline.after(5), trace=Trace.new())).state
                for _ in range(2)
            ]
            return states, peers.token_requests
        finally:
            await peers.aclose()

    assert run(scenario()) == ([RowState.ERROR, RowState.NOT_KNOWN], 2)


def test_a_task_off_the_endpoints_origin_is_not_followed() -> None:
    async def scenario() -> Any:
        peers = HttpPeers(IDENTITY, transport=partner_answering(not_known))
        try:
            return await peers.follow(
                PARTNER, "https://evil.example/fhir/Task/1", deadline=Deadline.after(5), trace=Trace.new()
            )
        finally:
            await peers.aclose()

    exchange = run(scenario())
    assert exchange.failure is Failure.REFUSED_HERE
    assert verdict(exchange).state is RowState.ERROR


def test_a_node_without_an_identity_key_asks_no_one() -> None:
    async def scenario() -> Any:
        peers = HttpPeers(Identity("node-la0001", lambda: None), transport=partner_answering(not_known))
        try:
            return await peers.ask(PARTNER, ASK, deadline=Deadline.after(5), trace=Trace.new())
        finally:
            await peers.aclose()

    found = verdict(run(scenario()))
    assert found.state is RowState.ERROR
    assert found.reason is not None
    assert "no identity key" in found.reason


# -- hostile partners on real sockets -----------------------------------------------------------------------------
Behaviour = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def hostile(query: Behaviour) -> AsyncIterator[Partner]:
    """A loopback HTTP/1.1 server: discovery and token answered at once, ``$person-info-query`` by ``query``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n")[0].decode()
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if "$person-info-query" in line:
                    await query(writer)
                    return
                body = (
                    orjson.dumps({"token_endpoint": f"{base}/auth/token"})
                    if "smart-configuration" in line
                    else orjson.dumps({"access_token": "t", "expires_in": 300})
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    try:
        yield Partner("SLOW01", "Slow partner", f"{base}/fhir")
    finally:
        server.close()


async def never_answers(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(60)


async def trickles(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\ncontent-length: 100000\r\n\r\n")
    for _ in range(100_000):
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("behaviour", [never_answers, trickles], ids=["never-answers", "trickles"])
def test_a_partner_too_slow_is_cut_off_at_the_deadline(behaviour: Behaviour) -> None:
    async def scenario() -> tuple[Any, float]:
        async with hostile(behaviour) as slow:
            peers = HttpPeers(IDENTITY)
            try:
                started = time.monotonic()
                exchange = await peers.ask(slow, ASK, deadline=Deadline.after(1.0), trace=Trace.new())
                return exchange, time.monotonic() - started
            finally:
                await peers.aclose()

    exchange, took = run(scenario())
    assert exchange.failure is Failure.TIMEOUT
    assert verdict(exchange).state is RowState.TIMED_OUT
    assert 0.9 <= took <= 1.5


def test_a_first_fan_out_to_many_partners_is_not_slowed_by_their_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many partners first asked at once stay linear: one connection pool per partner origin (httpcore matches each
    request against every connection of its pool, so one shared pool for 200 partners took 4-6 s, quadratic) and the
    CA bundle loaded once, not per client (~20 ms each). Counted, not timed: the time is bench_single_view's."""
    checks = 0
    loads = 0
    can_handle = httpcore.AsyncHTTPConnection.can_handle_request
    load_verify = ssl.SSLContext.load_verify_locations

    def counted_check(self: httpcore.AsyncHTTPConnection, origin: httpcore.Origin) -> bool:
        nonlocal checks
        checks += 1
        return can_handle(self, origin)

    def counted_load(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        nonlocal loads
        loads += 1
        load_verify(self, *args, **kwargs)

    async def answers(writer: asyncio.StreamWriter) -> None:
        body = orjson.dumps({"resourceType": "Parameters", "parameter": [{"name": "match", "valueBoolean": False}]})
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/fhir+json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def scenario() -> tuple[list[Any], int]:
        async with contextlib.AsyncExitStack() as stack:
            partners = [await stack.enter_async_context(hostile(answers)) for _ in range(PARTNERS)]
            peers = HttpPeers(IDENTITY)
            monkeypatch.setattr(httpcore.AsyncHTTPConnection, "can_handle_request", counted_check)
            monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted_load)
            try:
                exchanges = await asyncio.gather(
                    *(peers.ask(p, ASK, deadline=Deadline.after(20), trace=Trace.new()) for p in partners)
                )
                return list(exchanges), len(peers._clients)
            finally:
                await peers.aclose()

    exchanges, pools = run(scenario())
    assert {verdict(e).state for e in exchanges} == {RowState.NOT_KNOWN}
    assert pools == PARTNERS  # one pool per partner origin
    assert loads == 0  # the node's TLS context was built once, before the fan-out
    # Each partner is called a few times (discovery, token, query) and each call looks at its own pool only; one
    # pool shared by every partner makes this about PARTNERS² / 2 (20,000 for 200).
    assert checks <= 10 * PARTNERS, checks

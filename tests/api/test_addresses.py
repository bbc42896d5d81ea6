"""Issue 13 item 4: the address the node believes for a caller, in process. X-Forwarded-For is believed only from
MAIS_TRUSTED_PROXIES (none by default), read from the right past the trusted hops; every refused token's audit
record names that address, and the refusal throttle counts by it. The real server's side (uvicorn no longer
rewrites the address itself) is ``tests/e2e/test_limits.py``, the spoofed X-Forwarded-For test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mais_node.api.proxies import believed_client
from mais_node.clock import FixedClock
from mais_node.config import Settings
from tests.api.conftest import make_node
from tests.unit.auth.support import World, epoch, make_world

PEER = "192.0.2.7"  # the connection's own address, as the server saw it
BAD = {"Authorization": "Bearer not.a.token"}


def world_with(tmp_path: Path, clock: FixedClock, **settings: Any) -> World:
    world = make_world(tmp_path, clock, refused_limit=3)
    world.organisation("LA0001")
    return dataclasses.replace(world, settings=world.settings.model_copy(update=settings))


@pytest.fixture
def direct(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[World, TestClient]]:
    """No proxy trusted (the default)."""
    world = world_with(tmp_path, clock)
    with TestClient(world.app(), client=(PEER, 40000)) as client:
        yield world, client
    world.close()


@pytest.fixture
def proxied(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[World, TestClient]]:
    """The node behind a proxy at PEER that appends the address it saw to X-Forwarded-For."""
    world = world_with(tmp_path, clock, trusted_proxies=f"{PEER}, 10.0.0.0/8")
    with TestClient(world.app(), client=(PEER, 40000)) as client:
        yield world, client
    world.close()


def addresses(world: World) -> list[str | None]:
    """The network address of each refused token's record (outcome 8, User Authentication): the token endpoint's
    in this world's audit log, the bearer check's in the store's trail."""
    found = []
    events = [r.event for r in world.audit.records] + [r.event for r in world.services.audit.scan()]
    for event in events:
        if event.get("outcome") == "8" and event["type"]["code"] == "110114":
            networks = [a["network"]["address"] for a in event["agent"] if "network" in a]
            found.append(networks[0] if networks else None)
    return found


def test_a_refused_bearer_token_is_audited_with_the_callers_address(direct: tuple[World, TestClient]) -> None:
    world, client = direct
    assert client.get("/fhir/Patient", headers=BAD).status_code == 401
    assert addresses(world) == [PEER]  # before: the record had no address at all


def test_a_refused_token_request_is_audited_with_the_callers_address(direct: tuple[World, TestClient]) -> None:
    world, client = direct
    junk = world.client().form(epoch(world.clock), exp=int(epoch(world.clock)) - 600)
    assert client.post("/auth/token", data=junk).status_code == 401
    too_large = {"content-type": "application/x-www-form-urlencoded"}
    assert client.post("/auth/token", content=b"x" * 20_000, headers=too_large).status_code == 413
    assert addresses(world) == [PEER, PEER]


def test_forwarded_for_from_an_untrusted_peer_is_ignored(direct: tuple[World, TestClient]) -> None:
    world, client = direct
    statuses = [
        client.get("/fhir/Patient", headers=BAD | {"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert addresses(world) == [PEER] * 4


def test_behind_a_trusted_proxy_the_caller_is_the_address_the_proxy_saw(proxied: tuple[World, TestClient]) -> None:
    """The caller writes any X-Forwarded-For it likes; the proxy appends the real address, and that one counts."""
    world, client = proxied
    statuses = [
        client.get("/fhir/Patient", headers=BAD | {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.5"}).status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    assert addresses(world) == ["203.0.113.5"] * 4
    other = client.get("/fhir/Patient", headers=BAD | {"X-Forwarded-For": "203.0.113.6"})
    assert other.status_code == 401  # another caller behind the same proxy has its own allowance
    assert addresses(world)[-1] == "203.0.113.6"


@pytest.mark.parametrize(
    ("peer", "forwarded", "believed"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not from a proxy: the header is the caller's own claim
        (PEER, [], PEER),  # from the proxy, with no header: the proxy itself
        (PEER, ["198.51.100.1"], "198.51.100.1"),
        (PEER, ["1.1.1.1, 198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # past the trusted hops, no further
        (PEER, ["1.1.1.1", "198.51.100.1"], "198.51.100.1"),  # two header lines are one list
        (PEER, ["198.51.100.1, not-an-address, 10.1.2.3"], "10.1.2.3"),  # a junk hop: the last trusted one
        (PEER, ["10.1.2.3, 10.4.5.6"], "10.1.2.3"),  # all trusted: the farthest
        (PEER, [" 2001:db8::1 "], "2001:db8::1"),
    ],
)
def test_the_believed_address(peer: str, forwarded: list[str], believed: str) -> None:
    scope = {"client": (peer, 1234), "headers": [(b"x-forwarded-for", h.encode()) for h in forwarded]}
    client = believed_client(scope, Settings(trusted_proxies=f"{PEER},10.0.0.0/8").trusted_proxy_networks)
    assert client is not None
    assert client[0] == believed


def test_a_trusted_proxy_setting_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(ValueError, match="not-an-address"):
        Settings(trusted_proxies="10.0.0.1, not-an-address")
    assert Settings().trusted_proxy_networks == ()


def test_a_refused_enquiry_is_audited_with_the_callers_address(tmp_path: Path) -> None:
    """The enquiry's own refusal (and its received record) name the address too, not only token refusals."""
    for node in make_node(tmp_path, max_body_bytes=64 * 1024):
        node.organisation("LA0001")
        headers = {"Content-Type": "application/fhir+json"} | node.as_("mais/enquiry", "LA0001")
        with TestClient(node.http.app, client=(PEER, 40000)) as client:
            refused = client.post(
                "/fhir/Patient/$person-info-query", content=b'{"resourceType": "Bundle"}', headers=headers
            )
        assert refused.status_code in (400, 422), refused.text
        records = [
            r.event
            for r in node.services.audit.scan()
            if any(c["code"] in ("enquiry-refused", "enquiry-received") for c in r.event.get("subtype", []))
        ]
        assert len(records) == 2
        for event in records:
            assert [a["network"]["address"] for a in event["agent"] if "network" in a] == [PEER]

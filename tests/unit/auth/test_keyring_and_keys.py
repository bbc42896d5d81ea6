"""The node's key ring (rotation without downtime), clients' JWKS URLs (cached per Cache-Control), rate limits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jws

from mais_node.adapters.jose_keys import generate_private_jwk, public_jwks
from mais_node.adapters.jwks_http import HttpJwksFetcher, max_age
from mais_node.auth.keyring import NodeKeyRing
from mais_node.auth.ports import FetchedJwks
from mais_node.auth.ratelimit import RateLimiter, RateLimitPolicy
from mais_node.clock import FixedClock
from mais_node.errors import NotAuthenticated, RateLimited, Unavailable
from mais_node.register.model import Client
from mais_node.storage.sqlite import SqliteDatabase
from mais_node.storage.sqlite_register import SqliteRegisterStore
from tests.unit.auth.support import ADMIN, Registered, World, epoch, make_world

FORM = "application/x-www-form-urlencoded"


def test_a_token_signed_before_rotation_stays_valid_and_new_ones_use_the_new_key(world: World) -> None:
    client = world.client()
    body = urlencode(client.form(epoch(world.clock))).encode()
    old_token = world.auth.token_endpoint.handle(FORM, body).body["access_token"]
    old_kid = world.auth.keyring.signing_key()[0]
    new_kid = world.auth.keyring.rotate()
    assert new_kid != old_kid
    assert {old_kid, new_kid} <= {k["kid"] for k in world.auth.keyring.public_jwks()["keys"]}
    assert world.auth.bearer.authenticate(f"Bearer {old_token}").client_id == client.client_id
    new_token = world.auth.token_endpoint.handle(FORM, urlencode(client.form(epoch(world.clock))).encode())
    assert jws.extract_compact(new_token.body["access_token"].encode()).headers()["kid"] == new_kid


def test_a_previous_key_is_retired_once_no_token_it_signed_can_be_valid(tmp_path: Path, clock: FixedClock) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'k.db'}")
    ring = NodeKeyRing(SqliteRegisterStore(db), clock, retire_after=timedelta(minutes=10))
    first = ring.signing_key()[0]
    ring.rotate()
    assert ring.retire() == []
    clock.advance(minutes=11)
    assert ring.retire() == [first]
    assert first not in {k["kid"] for k in ring.public_jwks()["keys"]}
    assert ring.verification_key(first) is None
    db.close()


def test_a_token_of_another_node_is_refused(world: World, tmp_path: Path, clock: FixedClock) -> None:
    other = make_world(tmp_path / "other", clock)
    other.organisation("LA0001")
    client = other.client()
    token = other.auth.token_endpoint.handle(FORM, urlencode(client.form(epoch(clock))).encode()).body
    with pytest.raises(NotAuthenticated, match="not issued by this node"):
        world.auth.bearer.authenticate(f"Bearer {token['access_token']}")
    other.close()


def test_no_bearer_header_is_not_authenticated(world: World) -> None:
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(NotAuthenticated):
            world.auth.bearer.authenticate(header)


def _jwks_client(world: World, url: str) -> Registered:
    private = generate_private_jwk("ES384")
    world.fetcher.documents[url] = FetchedJwks(public_jwks(private), max_age=120)
    client = world.auth.clients.add("LA0001", ["system/Patient.rs"], jwks_uri=url, actor=ADMIN)
    return Registered(client, private, "ES384")


def test_a_client_with_a_jwks_url_is_fetched_once_per_max_age(world: World, clock: FixedClock) -> None:
    client = _jwks_client(world, "https://partner.example/jwks")
    for _ in range(2):
        body = urlencode(client.form(epoch(clock))).encode()
        assert world.auth.token_endpoint.handle(FORM, body).status == 200
    assert world.fetcher.fetches == 1
    clock.advance(seconds=121)
    assert world.auth.token_endpoint.handle(FORM, urlencode(client.form(epoch(clock))).encode()).status == 200
    assert world.fetcher.fetches == 2


def test_an_unreachable_jwks_url_refuses_the_client(world: World) -> None:
    client = _jwks_client(world, "https://partner.example/jwks")
    del world.fetcher.documents["https://partner.example/jwks"]
    answer = world.auth.token_endpoint.handle(FORM, urlencode(client.form(epoch(world.clock))).encode())
    assert (answer.status, answer.body["error"]) == (401, "invalid_client")
    assert "JWKS URL" in world.refusals()[-1]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("max-age=300", 300), ("public, max-age=60, must-revalidate", 60), ("no-store", 0), (None, 0), ("no-cache", 0)],
)
def test_cache_control_bounds_how_long_a_jwks_is_kept(header: str | None, seconds: int) -> None:
    assert max_age(header) == seconds


def test_the_http_fetcher_reads_a_jwks_and_its_max_age() -> None:
    jwks = public_jwks(generate_private_jwk("ES384"))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json=jwks, headers={"Cache-Control": "max-age=90"})
        return httpx.Response(404)

    fetcher = HttpJwksFetcher(transport=httpx.MockTransport(answer))
    fetched = fetcher.fetch("https://partner.example/jwks")
    assert (fetched.jwks, fetched.max_age) == (jwks, 90)
    with pytest.raises(Unavailable, match="404"):
        fetcher.fetch("https://partner.example/missing")
    fetcher.close()


def test_a_rate_limit_counts_per_client_and_window(tmp_path: Path, clock: FixedClock) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'r.db'}")
    limiter = RateLimiter(SqliteRegisterStore(db), clock, RateLimitPolicy(2, 60))
    limiter.check("a")
    limiter.check("a")
    limiter.check("b")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert 1 <= refused.value.retry_after <= 60
    clock.advance(seconds=60)
    limiter.check("a")
    db.close()


def test_a_replayed_assertion_is_refused_by_another_worker_on_the_same_file(tmp_path: Path, clock: FixedClock) -> None:
    first = make_world(tmp_path, clock)
    first.organisation("LA0001")
    second = make_world(tmp_path, clock)  # a second process: its own connections to the same SQLite file
    client = first.client()
    body = urlencode(client.form(epoch(clock))).encode()
    assert first.auth.token_endpoint.handle(FORM, body).status == 200
    replay = second.auth.token_endpoint.handle(FORM, body)
    assert (replay.status, replay.body["error"]) == (401, "invalid_client")
    assert "replay" in second.refusals()[-1]
    first.close()
    second.close()


def test_a_client_document_round_trips() -> None:
    client = Client("c", "LA0001", ("mais/enquiry",), "2026-01-01", jwks_uri="https://x.example/jwks", name="CMS")
    assert Client.from_document(client.document()) == client


def test_a_key_rotated_in_at_the_jwks_url_is_found_before_the_cached_copy_expires(
    world: World, clock: FixedClock
) -> None:
    """A client that publishes a new key and signs with it at once (the SMART Bulk Data Tester makes a new key each
    run) is not refused for the node's cached copy: an unknown kid fetches the URL again, at most once a minute."""
    url = "https://partner.example/jwks"
    client = _jwks_client(world, url)
    assert world.auth.token_endpoint.handle(FORM, urlencode(client.form(epoch(clock))).encode()).status == 200
    rotated = generate_private_jwk("ES384")
    world.fetcher.documents[url] = FetchedJwks(public_jwks(rotated), max_age=120)
    fresh = Registered(client.client, rotated, "ES384")
    assert world.auth.token_endpoint.handle(FORM, urlencode(fresh.form(epoch(clock))).encode()).status == 200
    assert world.fetcher.fetches == 2
    junk = fresh.form(epoch(clock)) | {"client_assertion": fresh.assertion(epoch(clock), header={"kid": "nope"})}
    for _ in range(3):
        assert world.auth.token_endpoint.handle(FORM, urlencode(junk).encode()).status == 401
    assert world.fetcher.fetches == 2  # the refetch a minute ago is recent: junk kids do not make the node fetch
    assert "selects 0 keys" in world.refusals()[-1]
    clock.advance(seconds=61)
    assert world.auth.token_endpoint.handle(FORM, urlencode(fresh.form(epoch(clock))).encode()).status == 200

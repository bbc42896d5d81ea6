"""What the per-request auth path remembers: the scope decision (a pure function) and each verified token, which
still expires on time and still loses its organisation or client within the status interval."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

import pytest

from mais_node.auth import scopes
from mais_node.auth.bearer import BearerValidator, Caller
from mais_node.clock import FixedClock
from mais_node.errors import NotAuthenticated
from mais_node.fhir.search.params import DECLARED
from tests.unit.auth.support import ADMIN, World, epoch

FORM = "application/x-www-form-urlencoded"
GRANTABLE = [s.scope for s in scopes.SCOPES] + ["system/Patient.cud", "system/*.rs", "system/Task.sr", "nonsense"]


def test_the_remembered_scope_decision_is_the_computed_one_for_every_combination() -> None:
    scopes.permits.cache_clear()
    granted_sets = [tuple(combo) for size in (0, 1, 2) for combo in itertools.combinations(GRANTABLE, size)]
    types = ["*", "AuditEvent", *sorted(DECLARED)]
    checked = 0
    for granted, rtype, letter in itertools.product(granted_sets, types, scopes.INTERACTIONS):
        expected = scopes.covered(f"system/{rtype}.{letter}", list(granted))
        assert scopes.permits(granted, rtype, letter) is expected
        assert scopes.permits(granted, rtype, letter) is expected  # the remembered answer
        checked += 1
    assert checked > 5_000
    assert scopes.permits.cache_info().hits >= checked
    assert scopes.permits.cache_info().currsize <= 1024


def _token(world: World, scope: str = "system/Patient.rs") -> str:
    client = world.client(scope=scope)
    answer = world.auth.token_endpoint.handle(FORM, urlencode(client.form(epoch(world.clock), scope=scope)).encode())
    return str(answer.body["access_token"])


def _fresh(world: World) -> BearerValidator:
    bearer = world.auth.bearer
    return BearerValidator(
        bearer.keyring,
        bearer.clients,
        bearer.organisations,
        bearer.clock,
        issuer=bearer.issuer,
        audience=bearer.audience,
    )


def test_a_token_is_verified_once_and_answers_as_a_fresh_check_would(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = [_token(world, scope) for scope in ("system/Patient.rs", "system/*.cruds", "system/Task.crs")]
    verified: list[str] = []
    real = world.auth.bearer._verify

    def counting(token: str, now: float) -> Caller:
        verified.append(token)
        return real(token, now)

    monkeypatch.setattr(world.auth.bearer, "_verify", counting)
    for _ in range(3):
        for token in tokens:
            assert world.auth.bearer.authenticate(f"Bearer {token}") == _fresh(world).authenticate(f"Bearer {token}")
    assert verified == tokens


def test_a_remembered_token_still_expires_on_time(world: World, clock: FixedClock) -> None:
    token = _token(world)
    caller = world.auth.bearer.authenticate(f"Bearer {token}")
    clock.advance(seconds=caller.expires_at - epoch(clock) - 1)
    assert world.auth.bearer.authenticate(f"Bearer {token}") == caller
    clock.advance(seconds=1)
    with pytest.raises(NotAuthenticated, match="expired"):
        world.auth.bearer.authenticate(f"Bearer {token}")


def test_a_remembered_token_loses_a_suspended_organisation_within_the_status_interval(
    world: World, clock: FixedClock
) -> None:
    token = _token(world)
    world.auth.bearer.authenticate(f"Bearer {token}")
    world.auth.organisations.suspend("LA0001", actor=ADMIN)
    clock.advance(seconds=world.auth.bearer.status_ttl)
    with pytest.raises(NotAuthenticated, match="suspended"):
        world.auth.bearer.authenticate(f"Bearer {token}")


def test_a_remembered_token_loses_a_revoked_client_within_the_status_interval(world: World, clock: FixedClock) -> None:
    token = _token(world)
    caller = world.auth.bearer.authenticate(f"Bearer {token}")
    world.auth.clients.revoke(caller.client_id, actor=ADMIN)
    clock.advance(seconds=world.auth.bearer.status_ttl)
    with pytest.raises(NotAuthenticated, match="revoked"):
        world.auth.bearer.authenticate(f"Bearer {token}")


def test_the_token_memory_is_bounded_and_a_forgotten_token_is_verified_again(world: World) -> None:
    bearer = _fresh(world)
    bearer.cache_size = 2
    tokens = [_token(world) for _ in range(4)]
    callers = [bearer.authenticate(f"Bearer {token}") for token in tokens]
    assert len(bearer._verified) == 2
    assert bearer.authenticate(f"Bearer {tokens[0]}") == callers[0]
    assert len(bearer._verified) == 2

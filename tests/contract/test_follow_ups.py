"""The follow-ups contract (DESIGN §8, §11): a single view's referred rows kept in the node's store under a lease, so
any worker picks up a due follow-up no one holds, a crashed holder's lease expires and another takes over, and no two
workers ever hold the same view. The same suite on SQLite and MongoDB."""

from __future__ import annotations

from typing import cast

import pytest

from mais_node.auth.services import RegisterStore
from mais_node.network.ports import FollowUp, FollowUps

NOW = 1_800_000_000.0


@pytest.fixture
def store(register_store: RegisterStore) -> FollowUps:
    return cast(FollowUps, register_store)


def a_view(view_id: str = "v1", due: float = NOW, state: bytes = b'{"rows": []}') -> FollowUp:
    return FollowUp(view_id, state, due=due, until=NOW + 900)


def test_a_due_follow_up_is_claimed_once_with_its_state(store: FollowUps) -> None:
    store.add_follow_up(a_view())
    claimed = store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=10)
    assert claimed == [FollowUp("v1", b'{"rows": []}', NOW, NOW + 900, "w1", NOW + 30)]
    assert store.claim_follow_ups("w2", now=NOW + 1, lease_until=NOW + 31, limit=10) == []


def test_a_follow_up_not_yet_due_is_not_claimed(store: FollowUps) -> None:
    store.add_follow_up(a_view(due=NOW + 5))
    assert store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=10) == []
    assert [f.view_id for f in store.claim_follow_ups("w1", now=NOW + 5, lease_until=NOW + 35, limit=10)] == ["v1"]


def test_claims_take_the_most_overdue_first_up_to_the_limit(store: FollowUps) -> None:
    for view_id, due in (("late", NOW - 1), ("later", NOW - 9), ("now", NOW)):
        store.add_follow_up(a_view(view_id, due=due))
    first = store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=2)
    assert [f.view_id for f in first] == ["later", "late"]
    assert [f.view_id for f in store.claim_follow_ups("w2", now=NOW, lease_until=NOW + 30, limit=2)] == ["now"]


def test_a_renewed_lease_keeps_others_out_past_its_first_expiry(store: FollowUps) -> None:
    store.add_follow_up(a_view())
    store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=1)
    assert store.renew_follow_up("v1", "w1", lease_until=NOW + 60)
    assert store.claim_follow_ups("w2", now=NOW + 45, lease_until=NOW + 75, limit=1) == []
    assert not store.renew_follow_up("v1", "w2", lease_until=NOW + 90)  # only the holder renews


def test_a_crashed_holders_lease_expires_and_another_worker_takes_over(store: FollowUps) -> None:
    store.add_follow_up(a_view())
    store.claim_follow_ups("crashed", now=NOW, lease_until=NOW + 30, limit=1)
    taken = store.claim_follow_ups("w2", now=NOW + 30, lease_until=NOW + 60, limit=1)
    assert [(f.view_id, f.holder) for f in taken] == [("v1", "w2")]
    # The old holder, back from a pause, has lost it: it can neither renew, release nor end it.
    assert not store.renew_follow_up("v1", "crashed", lease_until=NOW + 90)
    assert not store.release_follow_up("v1", "crashed", state=b"stale", due=NOW)
    assert not store.end_follow_up("v1", "crashed")
    assert store.renew_follow_up("v1", "w2", lease_until=NOW + 90)


def test_a_released_follow_up_keeps_its_new_state_and_is_claimed_when_next_due(store: FollowUps) -> None:
    store.add_follow_up(a_view())
    store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=1)
    assert store.release_follow_up("v1", "w1", state=b'{"rows": [1]}', due=NOW + 4)
    assert store.claim_follow_ups("w2", now=NOW + 3, lease_until=NOW + 33, limit=1) == []
    again = store.claim_follow_ups("w2", now=NOW + 4, lease_until=NOW + 34, limit=1)
    assert [(f.state, f.due, f.holder) for f in again] == [(b'{"rows": [1]}', NOW + 4, "w2")]


def test_an_ended_follow_up_is_gone(store: FollowUps) -> None:
    store.add_follow_up(a_view())
    store.add_follow_up(a_view("v2"))
    store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=1)
    assert store.end_follow_up("v1", "w1")
    assert not store.end_follow_up("v1", "w1")
    later = store.claim_follow_ups("w1", now=NOW + 100, lease_until=NOW + 130, limit=10)
    assert [f.view_id for f in later] == ["v2"]


def test_a_follow_up_added_again_replaces_the_one_kept(store: FollowUps) -> None:
    store.add_follow_up(a_view(state=b"first"))
    store.add_follow_up(a_view(state=b"second"))
    assert [f.state for f in store.claim_follow_ups("w1", now=NOW, lease_until=NOW + 30, limit=10)] == [b"second"]

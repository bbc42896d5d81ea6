"""A single view's follow-up state (``network/follow_up.py``): what a worker stores is what another worker reads back,
and the loop of one worker claims, renews and gives up leases on the node's real store (SQLite)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mais_node.audit.actors import Actor, Coding
from mais_node.network.follow_up import FollowUpLoop, decode, encode
from mais_node.network.peers import Trace
from mais_node.network.ports import FollowUp
from mais_node.network.rows import Contact, Row, RowState, Verdict
from mais_node.network.view import View
from mais_node.storage.sqlite import SqliteDatabase
from mais_node.storage.sqlite_register import SqliteRegisterStore

STARTED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ACTOR = Actor(
    org_ods="LA0001",
    client_id="c1",
    user_id="u1",
    user_name="Sam Worker",
    user_role=Coding("https://example/role", "sw", "Social worker"),
    purpose=(Coding("https://example/purpose", "s47-enquiry"),),
)


def a_view() -> View:
    referred = Verdict(RowState.PENDING_REVIEW, "referred", request_id="r1", task="https://la0002.example/fhir/Task/t")
    known = Verdict(RowState.KNOWN, open=True, contact=Contact("Hub", ("0113",)), request_id="p7", rules=("a", "b"))
    return View(
        id="v1",
        trace=Trace("4bf92f3577b34da6a3ce929d0e0e4736"),
        purpose="s47-enquiry",
        subject={"resourceType": "Patient", "birthDate": "2015-03-02"},
        items=["is-known", "is-open"],
        requester_ods="LA0001",
        user={"name": "Sam Worker"},
        started=STARTED,
        collect_until=STARTED + timedelta(minutes=15),
        rows=[
            Row("LA0002", "Leeds", "https://la0002.example/fhir", referred, "2026-12-03T09:00:01+00:00", 12.5),
            Row("POL001", "Police", "https://pol001.example/fhir", known, "2026-12-03T09:00:01+00:00", 8.0),
            Row("HV0001", "Health visiting", None, Verdict(RowState.NOT_ASKED, "no endpoint")),
        ],
    )


def test_a_views_follow_up_state_reads_back_as_it_was_written() -> None:
    view, actor, wait = decode(encode(a_view(), ACTOR, 4.0))
    assert view == a_view()
    assert actor == ACTOR
    assert wait == 4.0


class Counting:
    """Rounds that take ``seconds`` and say the view waits no longer (or, with ``again``, ``again`` seconds more)."""

    def __init__(self, seconds: float = 0.0, again: float | None = None) -> None:
        self.seconds = seconds
        self.again = again
        self.views: list[str] = []

    async def round(self, view: View, actor: Actor, wait: float) -> float | None:
        self.views.append(view.id)
        await asyncio.sleep(self.seconds)
        return self.again


def test_a_worker_renews_the_lease_of_a_long_round_and_gives_it_up_when_stopped(tmp_path: Path) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'node.db'}")
    store = SqliteRegisterStore(db)
    clock = [1_800_000_000.0]
    store.add_follow_up(FollowUp("v1", encode(a_view(), ACTOR, 2.0), due=clock[0], until=clock[0] + 900))
    rounds = Counting(seconds=60)

    async def scenario() -> None:
        loop = FollowUpLoop(store, lambda: rounds, lambda: clock[0], tick=3600, lease=30)
        await loop.step()  # claims v1, starts its round
        await asyncio.sleep(0)
        assert rounds.views == ["v1"]
        clock[0] += 25
        await loop.step()  # renews to +55: another worker cannot take it at +40
        assert store.claim_follow_ups("other", now=clock[0] + 15, lease_until=clock[0] + 45, limit=1) == []
        await loop.aclose()

    asyncio.run(scenario())
    taken = store.claim_follow_ups("other", now=clock[0], lease_until=clock[0] + 30, limit=1)
    assert [f.view_id for f in taken] == ["v1"]  # given up at once on stopping, with its state as last stored
    assert decode(taken[0].state)[0] == a_view()
    db.close()


def test_a_round_that_ends_the_follow_up_removes_it_and_one_to_repeat_is_due_after_its_wait(tmp_path: Path) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'node.db'}")
    store = SqliteRegisterStore(db)
    now = 1_800_000_000.0
    store.add_follow_up(FollowUp("v1", encode(a_view(), ACTOR, 2.0), due=now, until=now + 900))

    async def one_round(rounds: Counting) -> None:
        loop = FollowUpLoop(store, lambda: rounds, lambda: now, tick=3600)
        await loop.step()
        await loop.settle()
        await loop.aclose()

    asyncio.run(one_round(Counting(again=4.0)))
    assert store.claim_follow_ups("w", now=now + 3.9, lease_until=now + 30, limit=1) == []
    again = store.claim_follow_ups("w", now=now + 4.0, lease_until=now + 30, limit=1)
    assert decode(again[0].state)[2] == 4.0
    store.release_follow_up("v1", "w", state=again[0].state, due=now)
    asyncio.run(one_round(Counting(again=None)))
    assert store.claim_follow_ups("w", now=now + 1000, lease_until=now + 1030, limit=1) == []
    db.close()


def test_a_worker_that_cannot_ask_claims_nothing(tmp_path: Path) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'node.db'}")
    store = SqliteRegisterStore(db)
    store.add_follow_up(FollowUp("v1", encode(a_view(), ACTOR, 2.0), due=0, until=900))
    asyncio.run(FollowUpLoop(store, lambda: None, lambda: 1.0, tick=3600).step())
    assert [f.view_id for f in store.claim_follow_ups("w", now=1.0, lease_until=31, limit=1)] == ["v1"]
    db.close()


class Failing:
    """Rounds that fail with a fault of the code (not a store being down), once per view then as ``Counting``."""

    def __init__(self) -> None:
        self.calls = 0

    async def round(self, view: View, actor: Actor, wait: float) -> float | None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug in a round")
        return None


def test_a_round_that_fails_unexpectedly_is_logged_and_due_again_after_its_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'node.db'}")
    store = SqliteRegisterStore(db)
    now = 1_800_000_000.0
    store.add_follow_up(FollowUp("v1", encode(a_view(), ACTOR, 2.0), due=now, until=now + 900))
    rounds = Failing()

    async def one_round(at: float) -> None:
        loop = FollowUpLoop(store, lambda: rounds, lambda: at, tick=3600)
        await loop.step()
        await loop.settle()
        await loop.aclose()

    asyncio.run(one_round(now))
    assert "a bug in a round" in caplog.text
    assert store.claim_follow_ups("w", now=now + 1.9, lease_until=now + 30, limit=1) == []  # not before its wait
    asyncio.run(one_round(now + 2.0))  # released, not held for the 30 s lease: the next round takes it
    assert rounds.calls == 2
    assert store.claim_follow_ups("w", now=now + 1000, lease_until=now + 1030, limit=1) == []
    db.close()


def test_the_loop_goes_on_after_a_tick_that_fails_unexpectedly(caplog: pytest.LogCaptureFixture) -> None:
    ticks = []

    class Broken:
        def claim_follow_ups(self, *args: object, **kwargs: object) -> list[FollowUp]:
            ticks.append(1)
            if len(ticks) == 1:
                raise RuntimeError("a bug in a claim")
            return []

    async def scenario() -> None:
        loop = FollowUpLoop(Broken(), lambda: Counting(), lambda: 1.0, tick=0.01)  # type: ignore[arg-type]
        loop.start()
        while len(ticks) < 3:
            await asyncio.sleep(0.01)
        await loop.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 10))
    assert "a bug in a claim" in caplog.text
    assert len(ticks) >= 3

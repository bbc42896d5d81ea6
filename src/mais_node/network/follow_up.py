"""Following a single view's referred rows from the node's store (issue 15 item 5; DESIGN §11), by any worker.

A view with referred rows is kept in the store (``FollowUps``) with its state and the time its next poll is due.
Each worker's ``FollowUpLoop`` claims due views no one holds, under a lease renewed while it polls; a round polls
every referred row once, stores the view and records each change, then releases the lease with the next poll due
(back-off) or ends the follow-up when no row waits or the collection deadline has passed. A worker that crashes
stops renewing: its lease expires and another claims the view, so a restart or another worker loses nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

import orjson

from mais_node.audit.actors import Actor, Coding
from mais_node.errors import MaisError
from mais_node.network.peers import Trace
from mais_node.network.ports import FollowUp, FollowUps
from mais_node.network.rows import Contact, Row, RowState, Verdict
from mais_node.network.view import View

log = logging.getLogger("mais_node.network")
LEASE_SECONDS = 30.0  # longer than one round (each poll is bounded by POLL_SECONDS); renewed every tick meanwhile
TICK_SECONDS = 1.0
CLAIM_AT_ONCE = 16


class Rounds(Protocol):
    """What follows one view for one round: ``SingleViews.round``, the view's next wait (None: followed no longer)."""

    def round(self, view: View, actor: Actor, wait: float) -> Awaitable[float | None]: ...


def encode(view: View, actor: Actor, wait: float) -> bytes:
    """A view being followed, with who asked (its rows' records name them) and the wait before its next poll."""
    rows = [asdict(row) for row in view.rows]
    body = {k: v for k, v in asdict(view).items() if k not in ("rows", "trace")}
    return orjson.dumps({**body, "trace": view.trace.trace_id, "rows": rows, "actor": asdict(actor), "wait": wait})


def decode(state: bytes) -> tuple[View, Actor, float]:
    body: dict[str, Any] = orjson.loads(state)
    actor: dict[str, Any] = body.pop("actor")
    wait = float(body.pop("wait"))
    rows = [_row(row) for row in body.pop("rows")]
    trace = Trace(body.pop("trace"))
    started, until = datetime.fromisoformat(body.pop("started")), datetime.fromisoformat(body.pop("collect_until"))
    view = View(**body, trace=trace, started=started, collect_until=until, rows=rows)
    role, purpose = actor.pop("user_role"), _codings(actor.pop("purpose"))
    return view, Actor(**actor, user_role=Coding(**role) if role else None, purpose=purpose), wait


def _row(row: dict[str, Any]) -> Row:
    found: dict[str, Any] = row.pop("verdict")
    contact = found.pop("contact")
    verdict = Verdict(
        RowState(found.pop("state")),
        **found | {"rules": tuple(found["rules"])},
        contact=Contact(contact["name"], tuple(contact["telecom"])) if contact else None,
    )
    return Row(**row, verdict=verdict)


def _codings(purpose: list[dict[str, Any]]) -> tuple[Coding, ...]:
    return tuple(Coding(**c) for c in purpose)


class FollowUpLoop:
    """One worker's follow-ups: started and stopped with the app (``mais serve``'s lifespan)."""

    def __init__(
        self,
        store: FollowUps,
        rounds: Callable[[], Rounds | None],
        now: Callable[[], float],
        *,
        tick: float = TICK_SECONDS,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.rounds = rounds  # None while this node cannot ask its partners: nothing is claimed
        self.now = now
        self.tick = tick
        self.lease = lease
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def aclose(self) -> None:
        """Stop: rounds under way are cancelled and their leases given up at once, for another worker to take."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        held = list(self._held.values())
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)

    async def settle(self) -> None:
        """Wait for the rounds under way (tests)."""
        while self._held:
            await asyncio.gather(*list(self._held.values()), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except MaisError as exc:  # the store is down: try again at the next tick
                log.error("single view follow-ups not claimed: %s", exc.diagnostics)
            except Exception:  # a fault of this code: logged whole, and the loop goes on (it must not stop quietly)
                log.exception("single view follow-ups not claimed this tick")
            await asyncio.sleep(self.tick)

    async def step(self) -> None:
        """One tick: renew the leases held, claim what is due and start a round for each."""
        now = self.now()
        for view_id in list(self._held):
            if not await asyncio.to_thread(
                self.store.renew_follow_up, view_id, self.holder, lease_until=now + self.lease
            ):
                log.warning("single view %s: lease lost to another worker", view_id)
                self._held.pop(view_id).cancel()
        rounds = self.rounds()
        if rounds is None:
            return
        room = CLAIM_AT_ONCE - len(self._held)
        if room <= 0:
            return
        claimed = await asyncio.to_thread(
            self.store.claim_follow_ups, self.holder, now=now, lease_until=now + self.lease, limit=room
        )
        for follow_up in claimed:
            task = asyncio.ensure_future(self._round(rounds, follow_up))
            self._held[follow_up.view_id] = task
            task.add_done_callback(functools.partial(self._done, follow_up.view_id))

    def _done(self, view_id: str, task: asyncio.Task[None]) -> None:
        if self._held.get(view_id) is task:
            del self._held[view_id]

    async def _round(self, rounds: Rounds, follow_up: FollowUp) -> None:
        try:
            view, actor, wait = decode(follow_up.state)
        except (ValueError, KeyError, TypeError):  # written by another version of this code: not followable
            log.error("single view %s: its follow-up state cannot be read; it is followed no longer", follow_up.view_id)
            await asyncio.to_thread(self.store.end_follow_up, follow_up.view_id, self.holder)
            return
        try:
            next_wait = await rounds.round(view, actor, wait)
        except asyncio.CancelledError:
            # Stopping (or the lease lost): give it up now, as last stored, so another worker need not wait.
            await asyncio.shield(asyncio.to_thread(self._give_up, follow_up))
            raise
        except MaisError as exc:
            log.error("single view %s not followed this round: %s", view.id, exc.diagnostics)
            next_wait = wait
        except Exception:  # a fault of this code: released to be tried again after its wait, not held for a lease
            log.exception("single view %s not followed this round", view.id)
            next_wait = wait
        if next_wait is None:
            await asyncio.to_thread(self.store.end_follow_up, view.id, self.holder)
            return
        state = encode(view, actor, next_wait)
        due = min(self.now() + next_wait, follow_up.until)  # the round at the deadline completes the view
        await asyncio.to_thread(self.store.release_follow_up, view.id, self.holder, state=state, due=due)

    def _give_up(self, follow_up: FollowUp) -> None:
        try:
            self.store.release_follow_up(follow_up.view_id, self.holder, state=follow_up.state, due=self.now())
        except MaisError as exc:  # its lease will expire instead
            log.error("single view %s lease not given up: %s", follow_up.view_id, exc.diagnostics)

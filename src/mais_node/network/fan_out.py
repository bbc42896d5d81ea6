"""The fan-out of a single view (issue 15 item 4; DESIGN §11): every selected partner asked at once, bounded.

A global limit on calls in flight (shared by every single view of this node) and one per endpoint; one live deadline
for the whole view, carried to every call; a circuit breaker per endpoint. The view comes back at the deadline
whatever the partners do: a row still unanswered then is ``TIMED_OUT`` and its call is cancelled. Rows keep the
partners' order; none is ever merged with another.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mais_node.clock import Clock
from mais_node.network.breakers import Breakers
from mais_node.network.peers import Deadline, Partner, Peers, Trace
from mais_node.network.rows import Exchange, Failure, Row, RowState, Stage, Verdict, verdict
from mais_node.network.targets import Listing, still_askable

DEFAULT_CONCURRENCY = 64
DEFAULT_PER_ENDPOINT = 8
GRACE_SECONDS = 0.05  # past the deadline, calls are cancelled: a well-behaved adapter has already returned


@dataclass(frozen=True, slots=True)
class Limits:
    concurrency: int = DEFAULT_CONCURRENCY
    per_endpoint: int = DEFAULT_PER_ENDPOINT


class FanOut:
    def __init__(
        self,
        peers: Peers,
        clock: Clock,
        *,
        breakers: Breakers | None = None,
        limits: Limits = Limits(),
        listing: Listing | None = None,  # re-checked just before each call: a suspension since selection stops it
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.peers = peers
        self.clock = clock
        self.breakers = breakers or Breakers()
        self.limits = limits
        self.listing = listing
        self.monotonic = monotonic
        self._global: asyncio.Semaphore | None = None
        self._per_endpoint: dict[str, asyncio.Semaphore] = {}

    async def ask_all(
        self, partners: Sequence[Partner], parameters: dict[str, Any], *, deadline: Deadline, trace: Trace
    ) -> list[Row]:
        """One row per partner, in order, by the deadline."""
        tasks = [asyncio.ensure_future(self._ask(p, parameters, deadline, trace)) for p in partners]
        if tasks:
            await asyncio.wait(tasks, timeout=deadline.remaining() + GRACE_SECONDS)
        rows = []
        for partner, task in zip(partners, tasks, strict=True):
            if task.done() and not task.cancelled() and task.exception() is None:
                rows.append(task.result())
            else:
                task.cancel()
                rows.append(_row(partner, Verdict(RowState.TIMED_OUT, "no answer before the view's deadline")))
        return rows

    async def _ask(self, partner: Partner, parameters: dict[str, Any], deadline: Deadline, trace: Trace) -> Row:
        if not self.breakers.allows(partner.base):
            return _row(partner, Verdict(RowState.NOT_ASKED, "circuit breaker open: the partner failed recently"))
        if self.listing is not None and (why := still_askable(self.listing, partner)) is not None:
            return _row(partner, Verdict(RowState.NOT_ASKED, why))
        started: float | None = None
        try:
            async with asyncio.timeout(deadline.remaining()):
                async with self._slot(partner.base):
                    started = self.monotonic()
                    exchange = await self.peers.ask(partner, parameters, deadline=deadline, trace=trace)
        except TimeoutError:
            if started is None:  # our own queue, not the partner's health: the breaker is not told
                return _row(
                    partner, Verdict(RowState.TIMED_OUT, "no connection free to ask before the view's deadline")
                )
            return self.row(partner, Exchange(Stage.QUERY, failure=Failure.TIMEOUT), started)
        return self.row(partner, exchange, started)

    def row(self, partner: Partner, exchange: Exchange, started: float) -> Row:
        """The partner's row after ``exchange`` (its verdict, when and how fast), the breaker told."""
        self.breakers.record(partner.base, exchange)
        latency = round((self.monotonic() - started) * 1000, 1)
        return Row(partner.ods, partner.name, partner.base, verdict(exchange), self.clock.now().isoformat(), latency)

    def _slot(self, endpoint: str) -> _Slots:
        if self._global is None:
            self._global = asyncio.Semaphore(self.limits.concurrency)
        per = self._per_endpoint.setdefault(endpoint, asyncio.Semaphore(self.limits.per_endpoint))
        return _Slots(self._global, per)


class _Slots:
    """Both semaphores, the endpoint's first (a slow partner's queue never holds global slots while it waits)."""

    def __init__(self, shared: asyncio.Semaphore, endpoint: asyncio.Semaphore) -> None:
        self.shared = shared
        self.endpoint = endpoint

    async def __aenter__(self) -> None:
        await self.endpoint.acquire()
        try:
            await self.shared.acquire()
        except BaseException:
            self.endpoint.release()
            raise

    async def __aexit__(self, *_: object) -> None:
        self.shared.release()
        self.endpoint.release()


def _row(partner: Partner, found: Verdict) -> Row:
    return Row(partner.ods, partner.name, partner.base, found)

"""An in-memory ``Peers`` for the fast tests of the fan-out: each partner answers what the test scripted, after a
delay measured against the deadline it is given, and every call is recorded with its ``traceparent``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mais_node.network.peers import Deadline, Partner, Trace
from mais_node.network.rows import Exchange, Failure, Stage


@dataclass(frozen=True, slots=True)
class Scripted:
    """What a partner answers, and after how long (an answer later than the deadline is a timeout)."""

    exchange: Exchange
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Call:
    stage: Stage
    ods: str
    target: str  # the parameters' subject for an ask, the Task URL for a follow
    traceparent: str


Script = Scripted | Callable[[Partner, Any], Scripted]


@dataclass
class FakePeers:
    queries: dict[str, Script] = field(default_factory=dict)  # by ODS code
    tasks: dict[str, list[Scripted]] = field(default_factory=dict)  # by Task URL: one per follow, the last repeated
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    closed: bool = False

    async def ask(self, partner: Partner, parameters: dict[str, Any], *, deadline: Deadline, trace: Trace) -> Exchange:
        self.calls.append(Call(Stage.QUERY, partner.ods, partner.base, trace.traceparent()))
        script = self.queries.get(partner.ods)
        if script is None:
            return await self._answer(Scripted(Exchange(Stage.QUERY, failure=Failure.CONNECT)), deadline)
        return await self._answer(script(partner, parameters) if callable(script) else script, deadline)

    async def follow(self, partner: Partner, task: str, *, deadline: Deadline, trace: Trace) -> Exchange:
        self.calls.append(Call(Stage.FOLLOW, partner.ods, task, trace.traceparent()))
        answers = self.tasks.get(task) or [Scripted(Exchange(Stage.FOLLOW, 404))]
        scripted = answers.pop(0) if len(answers) > 1 else answers[0]
        return await self._answer(scripted, deadline)

    async def aclose(self) -> None:
        self.closed = True

    async def _answer(self, scripted: Scripted, deadline: Deadline) -> Exchange:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if scripted.delay > deadline.remaining():
                await asyncio.sleep(deadline.remaining())
                return Exchange(scripted.exchange.stage, failure=Failure.TIMEOUT, detail="the fake partner is slow")
            await asyncio.sleep(scripted.delay)
            return scripted.exchange
        finally:
            self.in_flight -= 1

"""A circuit breaker per partner endpoint (issue 15 item 4): failures open it for a while; refusals do not count.

Closed: calls go. After ``threshold`` failures in a row it opens for ``open_seconds``: the single view does not ask
that endpoint (a ``NOT_ASKED`` row says so) rather than wait its deadline out on every view. Then one trial call is
let through (half-open): a success closes it, a failure opens it again. A failure is the partner not answering as a
node should (no connection, no answer in time, a broken or oversized answer, a 5xx); a refusal (any 4xx, a DENY, a
refused token) is an answer, and says nothing about the partner's health.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mais_node.network.rows import Exchange, Failure

DEFAULT_THRESHOLD = 3
DEFAULT_OPEN_SECONDS = 30.0
FAILURES = {Failure.CONNECT, Failure.TIMEOUT, Failure.PROTOCOL, Failure.TOO_LARGE}


def is_failure(exchange: Exchange) -> bool:
    return exchange.failure in FAILURES or (exchange.status or 0) >= 500


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None
    trial: bool = False  # a half-open trial call is under way


class Breakers:
    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        open_seconds: float = DEFAULT_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.open_seconds = open_seconds
        self.clock = clock
        self._states: dict[str, _State] = {}

    def allows(self, endpoint: str) -> bool:
        """Whether a call to ``endpoint`` may go now (claiming the one half-open trial when it is due)."""
        state = self._states.get(endpoint)
        if state is None or state.open_until is None:
            return True
        if self.clock() < state.open_until or state.trial:
            return False
        state.trial = True
        return True

    def record(self, endpoint: str, exchange: Exchange) -> None:
        state = self._states.setdefault(endpoint, _State())
        was_trial, state.trial = state.trial, False
        if not is_failure(exchange):
            state.failures, state.open_until = 0, None
            return
        state.failures += 1
        if was_trial or state.failures >= self.threshold:
            state.open_until = self.clock() + self.open_seconds

    def open_until(self, endpoint: str) -> float | None:
        state = self._states.get(endpoint)
        return state.open_until if state else None

"""Rate limit per client (DESIGN §10: 429 with Retry-After): a fixed window counted in the store.

The counter lives in the store, so every worker and replica of the node counts against the same limit. A worker
adds its requests to the store in small batches (at most a tenth of the limit, or every half second), and on every
request once the client is near its limit, so the shared count is exact where it matters and the hot path does not
write to the store on every request.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from mais_node.auth.ports import RateCounter
from mais_node.clock import Clock
from mais_node.errors import RateLimited


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    requests: int = 600
    window_seconds: int = 60

    @property
    def enabled(self) -> bool:
        return self.requests > 0


@dataclass(slots=True)
class _Tally:
    window: int
    seen: int = 0  # the shared count at the last flush
    pending: int = 0  # this worker's requests not yet added to it
    flushed: float = 0.0


class RateLimiter:
    def __init__(self, counter: RateCounter, clock: Clock, policy: RateLimitPolicy) -> None:
        self.counter = counter
        self.clock = clock
        self.policy = policy
        self.batch = max(1, min(50, policy.requests // 10))
        self._tallies: dict[str, _Tally] = {}
        self._lock = threading.Lock()

    def check(self, client_id: str) -> None:
        """Count one request of ``client_id``; RateLimited (with Retry-After) when over the limit."""
        if not self.policy.enabled:
            return
        now = self.clock.now().timestamp()
        window = int(now // self.policy.window_seconds)
        ends = (window + 1) * self.policy.window_seconds
        with self._lock:
            tally = self._tallies.get(client_id)
            if tally is None or tally.window != window:
                tally = self._tallies[client_id] = _Tally(window, flushed=now)
            tally.pending += 1
            count = tally.seen + tally.pending
            near = count + self.batch >= self.policy.requests
            if near or tally.pending >= self.batch or now - tally.flushed >= 0.5:
                tally.seen = self.counter.hit(f"client:{client_id}", window, ends, tally.pending)
                tally.pending, tally.flushed, count = 0, now, tally.seen
        if count > self.policy.requests:
            raise RateLimited(
                f"More than {self.policy.requests} requests in {self.policy.window_seconds} s from this client",
                retry_after=max(1, math.ceil(ends - now)),
            )

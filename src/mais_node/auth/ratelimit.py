"""Rate limit per client (DESIGN §10: 429 with Retry-After): a fixed window counted in the store.

The counter lives in the store, so every worker and replica of the node counts against the same limit.
"""

from __future__ import annotations

import math
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


class RateLimiter:
    def __init__(self, counter: RateCounter, clock: Clock, policy: RateLimitPolicy) -> None:
        self.counter = counter
        self.clock = clock
        self.policy = policy

    def check(self, client_id: str) -> None:
        """Count one request of ``client_id``; RateLimited (with Retry-After) when over the limit."""
        if not self.policy.enabled:
            return
        now = self.clock.now().timestamp()
        window = int(now // self.policy.window_seconds)
        ends = (window + 1) * self.policy.window_seconds
        count = self.counter.hit(f"client:{client_id}", window, ends)
        if count > self.policy.requests:
            raise RateLimited(
                f"More than {self.policy.requests} requests in {self.policy.window_seconds} s from this client",
                retry_after=max(1, math.ceil(ends - now)),
            )

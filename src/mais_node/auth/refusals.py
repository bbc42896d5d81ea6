"""Refused authentication attempts per source address (DESIGN §10: 429 rate limited).

Every refused token request and every refused bearer token is an audit record, written durably before the answer
(DESIGN §7). Unchecked, that lets anyone who can reach the node make it write and fsync one record per junk request,
for as long as they like. So refusals are counted per source address in a fixed window: up to ``limit`` are answered
and recorded as before; the one that crosses the limit is recorded with a note that the address is throttled and is
answered 429; later refusals from that address in the window are answered 429 without a record each. Only the
refusal path is counted: a good assertion or token from the same address is answered as usual, so a partner behind a
shared proxy is never locked out by someone else's junk.

The count is kept per worker process (an attacker reaching two workers gets twice the limit before the 429s); it
starts again at every window, so its memory is bounded by the addresses seen in one window.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from enum import Enum

from mais_node.auth.ratelimit import RateLimitPolicy
from mais_node.clock import Clock


class Verdict(Enum):
    RECORD = "record"  # under the limit: answer as usual, one audit record
    TRIP = "trip"  # the refusal that crosses the limit: 429, one audit record saying so
    QUIET = "quiet"  # over the limit: 429, no record


@dataclass(frozen=True, slots=True)
class Refusal:
    verdict: Verdict
    retry_after: int  # seconds until the window ends

    @property
    def throttled(self) -> bool:
        return self.verdict is not Verdict.RECORD

    @property
    def recorded(self) -> bool:
        return self.verdict is not Verdict.QUIET

    def note(self, reason: str) -> str:
        """The audit reason: the refusal's own, and at the trip what happens next."""
        if self.verdict is Verdict.TRIP:
            return f"{reason} (too many refused requests from this address: throttled for {self.retry_after} s)"
        return reason


log = logging.getLogger("mais_node.auth")

UNCOUNTED = Refusal(Verdict.RECORD, 0)  # where no throttle is configured: every refusal answered and recorded


class RefusalThrottle:
    """``policy.requests`` refused attempts per address per ``policy.window_seconds`` (the rate limit's own policy
    type: a number per window, 0 for off)."""

    def __init__(self, clock: Clock, policy: RateLimitPolicy | None = None) -> None:
        self.clock = clock
        self.policy = policy or RateLimitPolicy(60, 60)
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def over(self, address: str | None) -> bool:
        """Whether ``address`` has used up its refusals in this window (a check before costly work; counts nothing)."""
        if not self.policy.enabled:
            return False
        window = int(self.clock.now().timestamp() // self.policy.window_seconds)
        with self._lock:
            return window == self._window and self._counts.get(address or "unknown", 0) >= self.policy.requests

    def refused(self, address: str | None) -> Refusal:
        """Count one refused attempt from ``address`` (None: the address is unknown) and say how to answer it."""
        if not self.policy.enabled:
            return UNCOUNTED
        now = self.clock.now().timestamp()
        window = int(now // self.policy.window_seconds)
        retry_after = max(1, math.ceil((window + 1) * self.policy.window_seconds - now))
        key = address or "unknown"
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts[key] = self._counts.get(key, 0) + 1
        if count <= self.policy.requests:
            return Refusal(Verdict.RECORD, retry_after)
        if count == self.policy.requests + 1:
            log.warning(
                "address %s throttled for %d s: more than %d refused token requests or bearer tokens in %d s",
                key,
                retry_after,
                self.policy.requests,
                self.policy.window_seconds,
            )
            return Refusal(Verdict.TRIP, retry_after)
        return Refusal(Verdict.QUIET, retry_after)

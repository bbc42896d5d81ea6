"""Whether the audit trail can take a record now (issue 13 item 10; DESIGN §7 fail closed).

An enquiry is answered only once its records are durable, so a node whose trail cannot take a record answers every
enquiry 503 and must not say it is ready. ``/readyz`` asks ``ready()``: the adapter's probe writes a record-sized
row in a side table with the trail's durability (nothing in the chain, so probes never flood the trail), at most
once per ``every`` seconds while it succeeds; an append that failed since forces a new probe at once, and a failed
probe is not remembered, so readiness comes back with the first write that succeeds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from mais_node.errors import AuditUnavailable


class TrailProbe(Protocol):
    def probe(self) -> None:
        """Write a record-sized row beside the trail, as durably as a record; AuditUnavailable when it cannot."""
        ...


class TrailReadiness:
    def __init__(self, trail: TrailProbe, *, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._trail, self._every, self._clock = trail, every, clock
        self._good_until = float("-inf")
        self._lock = threading.Lock()

    def append_failed(self) -> None:
        """An append to the trail failed: the next ``ready()`` probes again."""
        with self._lock:
            self._good_until = float("-inf")

    def ready(self) -> bool:
        now = self._clock()
        with self._lock:
            if now < self._good_until:
                return True
        try:
            self._trail.probe()
        except AuditUnavailable:
            self.append_failed()
            return False
        with self._lock:
            self._good_until = now + self._every
        return True

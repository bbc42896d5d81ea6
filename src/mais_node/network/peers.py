"""The peer nodes, behind one port (DESIGN §11, STYLE "Peers behind one port"): ask one partner's
``$person-info-query``, follow one partner's enquiry Task.

Each call returns the ``Exchange`` it ended with (the token request when that failed, else the call itself); the
state it means is decided by ``rows.verdict`` alone. One ``Deadline`` is carried down to every call, and one W3C
trace (https://www.w3.org/TR/trace-context/) goes with every request so that the trails of one single view can be
joined across nodes.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mais_node.network.rows import Exchange


@dataclass(frozen=True, slots=True)
class Deadline:
    """An instant on the monotonic clock by which every call of a fan-out must be over."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True, slots=True)
class Trace:
    """One single view's trace id; every call to a partner is a child span of it (its own parent id)."""

    trace_id: str

    @classmethod
    def new(cls) -> Trace:
        return cls(secrets.token_hex(16))

    def traceparent(self) -> str:
        """A ``traceparent`` header for one outgoing call: version 00, this trace, a fresh span id, sampled."""
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-01"


@dataclass(frozen=True, slots=True)
class Partner:
    """A partner's node as the register lists it: its organisation and the FHIR base of its Endpoint."""

    ods: str
    name: str
    base: str  # the Endpoint address, e.g. https://mais.police.example/fhir
    type: str = field(default="", compare=False)  # its organisation-type code (what this node's rules on asking see)
    areas: tuple[str, ...] = field(default=(), compare=False)  # the ONS LAD codes it serves


class Peers(Protocol):
    async def ask(self, partner: Partner, parameters: dict[str, Any], *, deadline: Deadline, trace: Trace) -> Exchange:
        """POST ``parameters`` to the partner's ``Patient/$person-info-query``; the exchange it ended with."""
        ...

    async def follow(self, partner: Partner, task: str, *, deadline: Deadline, trace: Trace) -> Exchange:
        """GET the partner's enquiry Task at ``task`` (an absolute URL under its base); the exchange it ended with."""
        ...

    async def aclose(self) -> None:
        """Release the connections (the node is stopping)."""
        ...

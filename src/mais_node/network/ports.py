"""The network's ports: where a register document comes from, and where a node keeps what it applied.

``RegisterSource`` is one fetch (an httpx adapter for a URL, a file adapter); ``NationalStore`` keeps the applied
register entry by entry and writes per serial only the entries that changed, switching the serial last by a
compare-and-set, so an import is all or nothing on every store (DESIGN §8: one transaction on SQLite; on MongoDB
entries kept by their content's hash and one pointer document naming them, replaced in one write);
``LocalDecisions`` are this node's own suspensions of national entries; ``PublishedRegisters`` is the
authority's side (what ``GET /register`` serves). ``FollowUps`` keeps the single view's referred rows still to follow,
each under a lease any worker of the node can claim (``network/follow_up.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """The source answered 304: the document is the one fetched before."""


class RegisterSource(Protocol):
    def fetch(self, etag: str | None) -> Fetched | NotModified:
        """The current document (or NotModified when ``etag`` still names it); Unavailable when it cannot be had."""
        ...


@dataclass(frozen=True, slots=True)
class AppliedRegister:
    """A register a node applied: its serial, its ``header`` (``model.header_state`` as JSON), every entry's state by
    reference (``Organization/ODS``, ``Endpoint/id``, ``Device/client-id``: ``model.entry_states``), the SHA-256 of
    the signed document (the same document fetched again is not a rollback) and when it was applied."""

    serial: int
    header: bytes
    entries: dict[str, bytes]
    digest: str
    applied: str


@dataclass(frozen=True, slots=True)
class RegisterChanges:
    """What one import writes: the new serial's header and digest, and only the entries that changed since the
    serial it was compared with (a reference mapped to None is removed); on the first import, every entry."""

    serial: int
    header: bytes
    entries: dict[str, bytes | None]
    digest: str
    applied: str


class NationalStore(Protocol):
    def national_serial(self) -> int | None:
        """The serial applied last (a cheap read), or None before the first import."""
        ...

    def national(self) -> AppliedRegister | None:
        """The register applied last, every entry of it, as one consistent read."""
        ...

    def put_national(self, changes: RegisterChanges, *, expected_serial: int | None) -> None:
        """Apply ``changes`` all or nothing if the stored serial is still ``expected_serial`` (None: none yet);
        VersionConflict otherwise (another worker applied one first), and nothing is changed."""
        ...


class LocalDecisions(Protocol):
    def local_suspensions(self) -> dict[str, str]:
        """This node's suspensions of national entries: reference (``Organization/ODS``, ``Device/id``) → since."""
        ...

    def set_local_suspension(self, reference: str, since: str | None) -> None:
        """Suspend ``reference`` here (``since`` an instant), or lift the suspension (None)."""
        ...


@dataclass(frozen=True, slots=True)
class Published:
    serial: int
    etag: str
    document: bytes


class PublishedRegisters(Protocol):
    def put_published(self, published: Published) -> None:
        """Keep a signed register the authority published; VersionConflict when its serial is not above the last."""
        ...

    def published_serial(self) -> int | None: ...

    def published(self) -> Published | None:
        """The latest signed register published here, or None."""
        ...


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One single view whose referred rows are still followed: its state (``follow_up.encode``), when its next poll
    is due and its collection deadline (epoch seconds), and the worker holding its lease until ``lease_until``."""

    view_id: str
    state: bytes
    due: float
    until: float
    holder: str | None = None
    lease_until: float = 0.0


class FollowUps(Protocol):
    def add_follow_up(self, follow_up: FollowUp) -> None:
        """Keep a view to follow (unheld); a view already kept is replaced."""
        ...

    def claim_follow_ups(self, holder: str, *, now: float, lease_until: float, limit: int) -> list[FollowUp]:
        """Claim up to ``limit`` follow-ups due by ``now`` that no one holds (or whose lease has expired) for
        ``holder`` until ``lease_until``; each is claimed by one worker only, however many claim at once."""
        ...

    def renew_follow_up(self, view_id: str, holder: str, *, lease_until: float) -> bool:
        """Extend ``holder``'s lease; False when it holds it no longer (it expired and another claimed it)."""
        ...

    def release_follow_up(self, view_id: str, holder: str, *, state: bytes, due: float) -> bool:
        """Give the lease up, keeping the view's new state and its next poll; False when ``holder`` had lost it."""
        ...

    def end_follow_up(self, view_id: str, holder: str) -> bool:
        """The view is followed no longer (complete): forget it; False when ``holder`` had lost its lease."""
        ...


class NetworkStore(NationalStore, LocalDecisions, PublishedRegisters, FollowUps, Protocol):
    """What a storage adapter gives the network: all four on the node's store."""

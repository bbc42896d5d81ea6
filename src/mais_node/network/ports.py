"""The network's ports: where a register document comes from, and where a node keeps what it applied.

``RegisterSource`` is one fetch (an httpx adapter for a URL, a file adapter); ``NationalStore`` keeps the applied
register as one record replaced by compare-and-set on the serial, so an import is one atomic write on every store
(DESIGN §8); ``LocalDecisions`` are this node's own suspensions of national entries; ``PublishedRegisters`` is the
authority's side (what ``GET /register`` serves).
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
    """A register a node applied: its serial, its content (``RegisterContent.state`` as JSON), the signed document."""

    serial: int
    state: bytes
    document: bytes
    applied: str


class NationalStore(Protocol):
    def national_serial(self) -> int | None:
        """The serial applied last (a cheap read), or None before the first import."""
        ...

    def national(self) -> AppliedRegister | None: ...

    def put_national(self, applied: AppliedRegister, *, expected_serial: int | None) -> None:
        """Replace the applied register in one atomic write if the stored serial is still ``expected_serial``
        (None: none yet); VersionConflict otherwise (another worker applied one first)."""
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


class NetworkStore(NationalStore, LocalDecisions, PublishedRegisters, Protocol):
    """What a storage adapter gives the network: all three on the node's store."""

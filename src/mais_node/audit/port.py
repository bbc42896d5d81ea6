"""The audit-trail ports (DESIGN §7, §8): an append-only log of hash-chained AuditEvents, and checkpoint
storage.

``AuditRecord.event`` is the FHIR R4 AuditEvent as chained: its ``id`` is ``str(seq)`` (the position in the
chain is the resource's identity, so a record cannot be moved without its id and hash disagreeing) and its
``recorded`` is normalised to UTC with microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mais_node.audit.checkpoint import Checkpoint
    from mais_node.audit.query import AuditQuery

# A FHIR resource as JSON: its shape is checked by fhir.resources at the edges, not by the type checker.
Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One link of the chain: the AuditEvent, its position and the hashes that bind it to its predecessor."""

    seq: int
    prev_hash: str
    hash: str
    recorded: datetime
    event: Event


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of an auditor's search; ``next_cursor`` is opaque and absent on the last page."""

    records: list[AuditRecord]
    next_cursor: str | None = None


class AuditSink(Protocol):
    """What a writer of the trail needs: append durably, or raise AuditUnavailable (fail closed)."""

    def append(self, event: Event) -> AuditRecord: ...

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        """Append several events in order, in one durable write where the store allows it."""
        ...


class AuditLog(Protocol):
    def append(self, event: Event) -> AuditRecord:
        """Chain and store ``event`` durably before returning; raise AuditUnavailable on any store failure."""
        ...

    def append_many(self, events: Sequence[Event]) -> list[AuditRecord]:
        """Chain and store several events in order; on SQLite in one transaction (all or none)."""
        ...

    def scan(self, from_seq: int = 1) -> Iterator[AuditRecord]:
        """Stream every record from ``from_seq`` in sequence order."""
        ...

    def search(self, query: AuditQuery) -> AuditPage:
        """One page of the records matching an auditor's query, in date order."""
        ...

    def count(self, query: AuditQuery) -> int:
        """How many records match ``query`` (its page size and cursor aside): ``_total``, ``_summary=count``."""
        ...

    def last(self) -> AuditRecord | None:
        """The tail of the chain, or None when the log is empty."""
        ...

    def probe(self) -> None:
        """Write a record-sized row beside the chain, as durably as a record; AuditUnavailable when it cannot."""
        ...


class CheckpointStore(Protocol):
    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint (idempotent for the same seq)."""
        ...

    def latest_checkpoint(self) -> Checkpoint | None:
        """The checkpoint with the highest seq, or None."""
        ...

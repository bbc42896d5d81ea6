"""The storage port: the one narrow interface through which the node keeps FHIR resources (DESIGN §8).

Each durable step is one atomic write of a resource version, so both adapters (SQLite, MongoDB) give the same
guarantees without multi-document transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from mais_node.fhir.search.query import IndexRow, Query
from mais_node.matching.rows import PersonEntry

# The resource type whose writes keep the person index (matching/rows.py) in step, in the same write.
PERSON_TYPE = "Patient"

Operation = Literal["create", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One write. ``expected_version``: None = any, 0 = must not exist yet, n = current must be version n.

    ``person``: a Patient's person-index entry, which the store writes with the resource (a Patient written or
    deleted without one leaves no row: it is never matched)."""

    operation: Operation
    resource_type: str
    id: str
    last_updated: str
    body: dict[str, Any] | None = None
    index: Sequence[IndexRow] = ()
    expected_version: int | None = None
    person: PersonEntry | None = None


@dataclass(slots=True)
class Stored:
    """A resource version as kept: its JSON text with ``meta.versionId`` and ``meta.lastUpdated`` set."""

    resource_type: str
    id: str
    version: int
    last_updated: str
    deleted: bool
    json: bytes
    _body: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            self._body = orjson.loads(self.json)
        return self._body


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Stored]
    next_after: tuple[str, ...] | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Staging:
    """A store's way of taking a first load's batches built by other processes (issue 17, import at scale).

    ``stage(path, changes)`` runs in a worker process: it writes the stored rows of the creations ``changes`` (each
    a new resource, its indexes derived), as version 1, to a file of its own at ``path`` (a module-level function,
    so that a worker can be sent it). ``merge(path, mark)`` then takes those rows into the store in one transaction
    with the import's mark; it writes nothing and answers False when a resource of the file is held already (or
    named twice), which the caller then writes as ``write_many`` would."""

    stage: Callable[[str, Sequence[Change]], None]
    merge: Callable[[str, tuple[str, str]], bool]


class ResourceStore(Protocol):
    def write(self, change: Change) -> Stored:
        """Apply one change atomically; raise VersionConflict / PreconditionFailed when the version disagrees."""
        ...

    def write_many(self, changes: Sequence[Change], *, mark: tuple[str, str | None] | None = None) -> list[Stored]:
        """Apply a batch of changes (a bulk import's), in order, and set (or, with None, clear) the store mark
        ``mark``: on SQLite all in one transaction; on MongoDB one bulk write per collection, then the mark, so a
        crash between them leaves a batch written whose mark says it is not (writing it again is idempotent)."""
        ...

    def read_mark(self, key: str) -> str | None:
        """The store mark ``key`` set by ``write_many`` (a bulk import's checkpoint), or None."""
        ...

    def bulk_load(self) -> AbstractContextManager[Staging | None]:
        """A large first load (``mais person import`` into a node without people): within the block the store may
        keep its search indexes up to date once at the end rather than at every write. Searches stay correct
        meanwhile (only slower); the people the load's staged batches bring are matched from the end of the block
        on, when the person index takes their keys in one sorted pass (until then a node serving would not match
        them, as it would not match the people of the file not yet read). The end of the block, or after an
        interruption the store's next opening, makes the indexes whole again, so the store is consistent at every
        commit. The block is given the store's ``Staging`` if it has one (new resources' rows made by other
        processes), else None."""
        ...

    def read(self, resource_type: str, id: str, version: int | None = None) -> Stored | None:
        """The current (or the named) version, tombstones included; None if never written."""
        ...

    def history(
        self,
        resource_type: str | None,
        id: str | None,
        count: int,
        after: tuple[str, ...] | None,
        *,
        since: str | None = None,
    ) -> Page:
        """Versions newest first, of one resource, one type, or the whole store; ``since`` (normalised UTC text)
        keeps those written at or after it (R4 history ``_since``)."""
        ...

    def latest_change(self, *resource_types: str) -> str:
        """A token that changes whenever a resource of any of these types is written ("" before the first write):
        what a cache of those types compares, in one look and without reading a resource."""
        ...

    def search(self, query: Query) -> Page:
        """Current, non-deleted resources matching every criterion, in the query's sort order."""
        ...

    def ping(self) -> None:
        """Raise ``Unavailable`` when the store cannot be reached."""
        ...

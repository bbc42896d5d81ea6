"""The person index's port (issue 17 item 1): the rows a lookup finds, wherever they are kept.

Three adapters: ``matching.index.MemoryPersonRows`` (fast tests, the benchmarks' comparison),
``storage.sqlite_person_index`` and ``storage.mongo_person_index`` (kept in step with every Patient write by the
resource store itself, in the same write).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from mais_node.matching.blocking import Lookup
from mais_node.matching.rows import PersonEntry, PersonRow


class PersonRows(Protocol):
    def block(self, lookup: Lookup) -> Iterable[PersonRow]:
        """Each current person filed under any key of the lookup, once."""
        ...

    def ensure(self) -> int:
        """Build the rows from the stored Patients when they were never built (or by another ``blocking.VERSION``);
        the number of people indexed by that build, 0 when there was nothing to do."""
        ...

    def rebuild(self) -> int:
        """Make every row again from the stored Patients (``mais person reindex``); the number of people indexed."""
        ...


class PersonRowWriter(Protocol):
    """The write side, for an index that is not kept by a resource store (the in-memory one)."""

    def put(self, entry: PersonEntry) -> None:
        """Add a person, replacing any earlier row with the same id."""
        ...

    def remove(self, person_id: str) -> None:
        """Remove a person; unknown ids are ignored."""
        ...

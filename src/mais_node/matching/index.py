"""The in-memory person index (DESIGN §3 "Matching"; issue 5 §6, issue 17): blocking, then scoring.

``MemoryPersonRows`` keeps the rows and the blocking keys (``blocking.py``) in this process's memory: the fast
tests use it, and the benchmarks compare the durable indexes (``storage/*_person_index.py``) with it. A node
matches against the durable one; ``PersonIndex`` is the matcher over the memory rows.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

from mais_node.matching.blocking import Lookup, lookup
from mais_node.matching.grades import Candidate
from mais_node.matching.profile import profile_of
from mais_node.matching.record import PersonRecord
from mais_node.matching.rows import PersonEntry, PersonRow, entry_of, rank


class MemoryPersonRows:
    """``PersonRows`` and its write side in memory: rows in a list, each key's rows in an ``array``."""

    def __init__(self) -> None:
        self._rows: list[PersonRow | None] = []
        self._keys: list[tuple[int, ...]] = []
        self._row_of: dict[str, int] = {}
        self._postings: dict[int, array[int]] = {}
        self._sorted: list[int] | None = None  # the keys in order, for range lookups; rebuilt after a change

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._row_of

    def ids(self) -> Iterator[str]:
        return iter(self._row_of)

    def put(self, entry: PersonEntry) -> None:
        self.remove(entry.row.id)
        row = len(self._rows)
        self._rows.append(entry.row)
        self._keys.append(entry.keys)
        self._row_of[entry.row.id] = row
        for key in entry.keys:
            rows = self._postings.get(key)
            if rows is None:
                self._postings[key] = array("i", (row,))
                self._sorted = None
            else:
                rows.append(row)

    def remove(self, person_id: str) -> None:
        row = self._row_of.pop(person_id, None)
        if row is None:
            return
        for key in self._keys[row]:
            rows = self._postings[key]
            rows.remove(row)
            if not rows:
                del self._postings[key]
                self._sorted = None
        self._rows[row] = None
        self._keys[row] = ()

    def block(self, lookup: Lookup) -> list[PersonRow]:
        found: set[int] = set()
        for key in lookup.keys:
            found.update(self._postings.get(key, ()))
        for low, high in lookup.ranges:
            if self._sorted is None:
                self._sorted = sorted(self._postings)
            for key in self._sorted[bisect_left(self._sorted, low) : bisect_right(self._sorted, high)]:
                found.update(self._postings[key])
        return [row for row in (self._rows[number] for number in found) if row is not None]

    def ensure(self) -> int:
        return 0

    def rebuild(self) -> int:
        return len(self)  # nothing stored to build from: the rows are the index


class PersonIndex:
    """An in-memory person index: ``add``, ``remove`` and ``match`` records."""

    def __init__(self, records: Iterable[PersonRecord] = ()) -> None:
        self.rows = MemoryPersonRows()
        for record in records:
            self.add(record)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self.rows

    def ids(self) -> Iterator[str]:
        """The ids of the people in the index."""
        return self.rows.ids()

    def add(self, record: PersonRecord) -> None:
        """Add a person, replacing any earlier record with the same id."""
        self.rows.put(entry_of(record.id, profile_of(record)))

    def remove(self, person_id: str) -> None:
        """Remove a person; unknown ids are ignored."""
        self.rows.remove(person_id)

    def match(self, query: PersonRecord, limit: int = 5) -> list[Candidate]:
        """The best candidates for a person, strongest grade first; certainly-not candidates are left out."""
        profile = profile_of(query)
        return rank(profile, self.rows.block(lookup(profile)), limit)

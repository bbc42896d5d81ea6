"""The import's scratch space: what the validation pass keeps for the references and the write pass (the rows of the
file by ``Type/id``, the Bundle's ``urn:uuid`` names, the references still to be found), kept out of memory so that a
file of any size is checked in bounded memory. The embedded adapter is a temporary SQLite file
(storage/sqlite_scratch.py); ``MemoryScratch`` is the fake the fast tests use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol


class Scratch(Protocol):
    def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Keep each key with its value (a later value replaces an earlier one)."""
        ...

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The keys of ``keys`` that are kept, with their values."""
        ...

    def scan(self, prefix: str) -> Iterator[tuple[str, str]]:
        """Every key beginning with ``prefix``, in key order, with its value."""
        ...

    def close(self) -> None:
        """Drop everything kept."""
        ...


class MemoryScratch:
    def __init__(self) -> None:
        self._kept: dict[str, str] = {}

    def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._kept.update(pairs)

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self._kept[k] for k in keys if k in self._kept}

    def scan(self, prefix: str) -> Iterator[tuple[str, str]]:
        yield from sorted((k, v) for k, v in self._kept.items() if k.startswith(prefix))

    def close(self) -> None:
        self._kept.clear()

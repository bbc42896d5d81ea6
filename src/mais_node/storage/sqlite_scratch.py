"""The bulk import's scratch space (fhir/bulk/scratch.py) in a temporary SQLite file beside nothing of the node's:
it is deleted when the import ends, and holds one row per resource of the file, so memory stays bounded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from mais_node.errors import Unavailable
from mais_node.scratch_dirs import OwnedDirectory

CHUNK = 500  # keys per query: below SQLite's bound on host parameters


class SqliteScratch:
    def __init__(self, directory: Path | None = None) -> None:
        self._dir = OwnedDirectory(directory)  # deleted at close, or by the next import if this one is killed
        try:
            self._conn = sqlite3.connect(self._dir.path / "scratch.db", isolation_level=None)
            self._conn.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384;"
                "CREATE TABLE kept (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"
            )
        except sqlite3.Error as exc:
            raise Unavailable("The import's scratch file cannot be made") from exc

    def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._conn.execute("BEGIN")
        self._conn.executemany("INSERT OR REPLACE INTO kept (k, v) VALUES (?, ?)", pairs)
        self._conn.execute("COMMIT")

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT k, v FROM kept WHERE k IN ({marks})", chunk).fetchall())
        return found

    def scan(self, prefix: str) -> Iterator[tuple[str, str]]:
        cursor = self._conn.execute(
            "SELECT k, v FROM kept WHERE k >= ? AND k < ? ORDER BY k", (prefix, prefix + "\U0010ffff")
        )
        yield from cursor

    def close(self) -> None:
        self._conn.close()
        self._dir.cleanup()

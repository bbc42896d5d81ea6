"""The network's tables on the embedded store (DESIGN §8, §11): the applied national register (one row, replaced
under a compare-and-set on its serial), this node's suspensions of national entries, and the authority's published
register (one row, replaced only by a higher serial).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mais_node.errors import Unavailable, VersionConflict
from mais_node.network.ports import AppliedRegister, Published
from mais_node.storage.sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS national_register (
    id INTEGER PRIMARY KEY CHECK (id = 1), serial INTEGER NOT NULL, applied TEXT NOT NULL,
    state BLOB NOT NULL, document BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS local_suspension (reference TEXT PRIMARY KEY, since TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS published_register (
    id INTEGER PRIMARY KEY CHECK (id = 1), serial INTEGER NOT NULL, etag TEXT NOT NULL, document BLOB NOT NULL
);
"""


class SqliteNetworkTables:
    """NationalStore, LocalDecisions and PublishedRegisters on the node's SQLite file."""

    db: SqliteDatabase

    def _prepare_network(self) -> None:
        try:
            self.db.connection().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable("The network tables cannot be prepared") from exc

    # -- the applied national register ------------------------------------------------------------------
    def national_serial(self) -> int | None:
        row = self._read("SELECT serial FROM national_register WHERE id = 1")
        return None if row is None else int(row[0])

    def national(self) -> AppliedRegister | None:
        row = self._read("SELECT serial, state, document, applied FROM national_register WHERE id = 1")
        return None if row is None else AppliedRegister(int(row[0]), bytes(row[1]), bytes(row[2]), str(row[3]))

    def put_national(self, applied: AppliedRegister, *, expected_serial: int | None) -> None:
        values = (applied.serial, applied.applied, applied.state, applied.document)
        try:
            with self.db.transaction() as conn:
                if expected_serial is None:
                    changed = conn.execute(
                        "INSERT OR IGNORE INTO national_register (id, serial, applied, state, document) "
                        "VALUES (1, ?, ?, ?, ?)",
                        values,
                    ).rowcount
                else:
                    changed = conn.execute(
                        "UPDATE national_register SET serial = ?, applied = ?, state = ?, document = ? "
                        "WHERE id = 1 AND serial = ?",
                        (*values, expected_serial),
                    ).rowcount
        except sqlite3.Error as exc:
            raise Unavailable("The national register could not be written") from exc
        if changed != 1:
            raise VersionConflict("Another import changed the national register first")

    # -- this node's suspensions ------------------------------------------------------------------------
    def local_suspensions(self) -> dict[str, str]:
        try:
            rows = self.db.connection().execute("SELECT reference, since FROM local_suspension").fetchall()
        except sqlite3.Error as exc:
            raise Unavailable("The register cannot be read") from exc
        return {str(r[0]): str(r[1]) for r in rows}

    def set_local_suspension(self, reference: str, since: str | None) -> None:
        try:
            with self.db.transaction() as conn:
                if since is None:
                    conn.execute("DELETE FROM local_suspension WHERE reference = ?", (reference,))
                else:
                    conn.execute(
                        "INSERT INTO local_suspension (reference, since) VALUES (?, ?) "
                        "ON CONFLICT (reference) DO NOTHING",
                        (reference, since),
                    )
        except sqlite3.Error as exc:
            raise Unavailable("The register could not be written") from exc

    # -- the authority's published register -------------------------------------------------------------
    def put_published(self, published: Published) -> None:
        try:
            with self.db.transaction() as conn:
                changed = conn.execute(
                    "INSERT INTO published_register (id, serial, etag, document) VALUES (1, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, etag = excluded.etag, "
                    "document = excluded.document WHERE excluded.serial > published_register.serial",
                    (published.serial, published.etag, published.document),
                ).rowcount
        except sqlite3.Error as exc:
            raise Unavailable("The published register could not be written") from exc
        if changed != 1:
            raise VersionConflict(f"Serial {published.serial} is not above the last published serial")

    def published_serial(self) -> int | None:
        row = self._read("SELECT serial FROM published_register WHERE id = 1")
        return None if row is None else int(row[0])

    def published(self) -> Published | None:
        row = self._read("SELECT serial, etag, document FROM published_register WHERE id = 1")
        return None if row is None else Published(int(row[0]), str(row[1]), bytes(row[2]))

    def _read(self, sql: str) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self.db.connection().execute(sql).fetchone()
        except sqlite3.Error as exc:
            raise Unavailable("The register cannot be read") from exc
        return row

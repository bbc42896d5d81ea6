"""The network's tables on the embedded store (DESIGN §8, §11): the applied national register (``national_applied``,
one row switched under a compare-and-set on its serial, and ``national_entry``, one row per entry, of which an import
writes only those that changed, in the same transaction), this node's suspensions of national entries, and the
authority's published register (one row, replaced only by a higher serial).

``national_register`` (the whole register and its signed document in one row, rewritten by every serial: about 4 MB
for a national-sized register) is converted at start and dropped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from mais_node.errors import Unavailable, VersionConflict
from mais_node.network.model import split_state
from mais_node.network.ports import AppliedRegister, Published, RegisterChanges
from mais_node.storage.sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS national_applied (
    id INTEGER PRIMARY KEY CHECK (id = 1), serial INTEGER NOT NULL, applied TEXT NOT NULL,
    header BLOB NOT NULL, digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS national_entry (reference TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID;
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
            self._convert_whole_register()
        except sqlite3.Error as exc:
            raise Unavailable("The network tables cannot be prepared") from exc

    def _convert_whole_register(self) -> None:
        """A register applied before entries were kept one by one becomes header and entries (serial kept)."""
        conn = self.db.connection()
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'national_register'").fetchone():
            return
        with self.db.transaction() as tx:
            row = tx.execute("SELECT serial, applied, state, document FROM national_register WHERE id = 1").fetchone()
            if row is not None and not tx.execute("SELECT 1 FROM national_applied").fetchone():
                header, entries = split_state(bytes(row[2]))
                digest = hashlib.sha256(bytes(row[3])).hexdigest()
                tx.execute("INSERT INTO national_applied VALUES (1, ?, ?, ?, ?)", (row[0], row[1], header, digest))
                tx.executemany("INSERT OR REPLACE INTO national_entry VALUES (?, ?)", entries.items())
            tx.execute("DROP TABLE national_register")

    # -- the applied national register ------------------------------------------------------------------
    def national_serial(self) -> int | None:
        row = self._read("SELECT serial FROM national_applied WHERE id = 1")
        return None if row is None else int(row[0])

    def national(self) -> AppliedRegister | None:
        try:
            conn = self.db.connection()
            conn.execute("BEGIN")  # one snapshot: the pointer and the entries of the same serial
            try:
                row = conn.execute(
                    "SELECT serial, header, digest, applied FROM national_applied WHERE id = 1"
                ).fetchone()
                rows = conn.execute("SELECT reference, state FROM national_entry").fetchall() if row else []
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise Unavailable("The register cannot be read") from exc
        if row is None:
            return None
        entries = {str(r[0]): bytes(r[1]) for r in rows}
        return AppliedRegister(int(row[0]), bytes(row[1]), entries, str(row[2]), str(row[3]))

    def put_national(self, changes: RegisterChanges, *, expected_serial: int | None) -> None:
        values = (changes.serial, changes.applied, changes.header, changes.digest)
        try:
            with self.db.transaction() as conn:
                if expected_serial is None:
                    switched = conn.execute(
                        "INSERT OR IGNORE INTO national_applied (id, serial, applied, header, digest) "
                        "VALUES (1, ?, ?, ?, ?)",
                        values,
                    ).rowcount
                else:
                    switched = conn.execute(
                        "UPDATE national_applied SET serial = ?, applied = ?, header = ?, digest = ? "
                        "WHERE id = 1 AND serial = ?",
                        (*values, expected_serial),
                    ).rowcount
                if switched != 1:
                    raise VersionConflict("Another import changed the national register first")  # rolls back
                if expected_serial is None:
                    conn.execute("DELETE FROM national_entry")
                kept = [(ref, state) for ref, state in changes.entries.items() if state is not None]
                gone = [(ref,) for ref, state in changes.entries.items() if state is None]
                conn.executemany("INSERT OR REPLACE INTO national_entry (reference, state) VALUES (?, ?)", kept)
                conn.executemany("DELETE FROM national_entry WHERE reference = ?", gone)
        except sqlite3.Error as exc:
            raise Unavailable("The national register could not be written") from exc

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

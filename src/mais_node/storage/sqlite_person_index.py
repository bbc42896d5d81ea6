"""The person index in the node's SQLite file (issue 17): written in the transaction of each Patient write.

``person`` holds one compact row per current Patient (``rid`` = the Patient's row in ``resource``, the names in one
string, the filing keys packed for the next write to diff against); ``person_key (key, rid)`` is a WITHOUT ROWID
table whose primary key is the covering index a lookup reads. A lookup is one query: every key of the enquiry in
one ``IN (…)`` (plus a range for a postcode sector without a birth date), joined to the rows by ``rid``.

A file written before the index existed (Patients, no ``person-index`` mark in ``store_meta``) is indexed once, in
one transaction, by ``ensure`` (at ``mais serve``'s start, or the first match); ``rebuild`` (``mais person
reindex``) makes the rows again whatever the mark says.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from mais_node.errors import Unavailable
from mais_node.matching.blocking import VERSION, Lookup
from mais_node.matching.rows import PersonEntry, PersonRow, person_entry
from mais_node.storage.packed_json import unpack

if TYPE_CHECKING:
    from mais_node.storage.sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS person (
    rid INTEGER PRIMARY KEY, id TEXT NOT NULL, nhs INTEGER NOT NULL, birth INTEGER NOT NULL,
    postcode INTEGER NOT NULL, flags INTEGER NOT NULL, names TEXT NOT NULL, keys BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS person_key (key INTEGER NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (key, rid))
    WITHOUT ROWID;
"""
MARK = "person-index"
# A first load's keys (``bulk_load``), in the order the rows are written: the keys are hashes, so writing them into
# ``person_key`` as they come dirties a page of its B-tree a key, ~75 KB written a person at 5M people (WAL and
# checkpoint). ``finish_load`` takes them in sorted, in one pass, when the load ends (or at the next opening).
LOADING = "person_key_load"
_LOAD_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {LOADING} (rid INTEGER NOT NULL, key INTEGER NOT NULL, PRIMARY KEY (rid, key))"
    " WITHOUT ROWID"
)
_LOADING_NOW = f"SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '{LOADING}'"
# A new file (no Patient yet) is marked at once: there is nothing to build.
_MARK_EMPTY = (
    "INSERT OR IGNORE INTO store_meta (k, v) SELECT ?, ? "
    "WHERE NOT EXISTS (SELECT 1 FROM resource WHERE rtype = 'Patient')"
)
_ROWS = "SELECT id, nhs, birth, postcode, flags, names FROM person WHERE rid IN "


def prepare(conn: sqlite3.Connection) -> None:
    """Create the tables (at every open of the file), and mark a file without Patients as indexed; a file already
    marked is only read (an open never waits for another process's long write)."""
    conn.executescript(SCHEMA)
    if conn.execute("SELECT 1 FROM store_meta WHERE k = ?", (MARK,)).fetchone() is None:
        conn.execute(_MARK_EMPTY, (MARK, VERSION))


def begin_load(conn: sqlite3.Connection) -> None:
    """In the caller's transaction: the keys a first load merges go to ``LOADING`` until ``finish_load``."""
    conn.execute(_LOAD_SCHEMA)


def load_pending(conn: sqlite3.Connection) -> bool:
    """A first load's keys wait for ``finish_load`` (a load under way, or one interrupted)."""
    return conn.execute(_LOADING_NOW).fetchone() is not None


def finish_load(db: SqliteDatabase) -> None:
    """A first load's keys into ``person_key``, sorted (its pages filled in order, not one written a key), then the
    load's table dropped, in a second transaction: dropped in the transaction that had read it all, it held memory
    growing with its size (+165 MiB at 9M keys, none once committed). The second first takes in the keys a load
    still under way in another process merged between the two (rows after the last one taken: the table is in row
    order), so none is lost. Nothing when no load is pending; after a crash between the two, the next call takes in
    nothing new and drops it."""
    with db.transaction() as conn:
        if not load_pending(conn):
            return
        taken = conn.execute(f"SELECT coalesce(max(rid), 0) FROM {LOADING}").fetchone()[0]
        conn.execute("PRAGMA temp_store=FILE")  # the sort of tens of millions of keys, in temporary files
        try:
            conn.execute(
                f"INSERT OR IGNORE INTO person_key (key, rid) SELECT key, rid FROM {LOADING} ORDER BY key, rid"
            )
        finally:
            conn.execute("PRAGMA temp_store=MEMORY")
    with db.transaction() as conn:
        if load_pending(conn):
            conn.execute(
                f"INSERT OR IGNORE INTO person_key (key, rid) SELECT key, rid FROM {LOADING} WHERE rid > ?", (taken,)
            )
            conn.execute(f"DROP TABLE {LOADING}")


def _forget(conn: sqlite3.Connection, gone: Sequence[tuple[int, int]]) -> None:
    """The (key, rid) pairs that no longer hold, from ``person_key`` and from a pending load's keys."""
    conn.executemany("DELETE FROM person_key WHERE key = ? AND rid = ?", gone)
    if load_pending(conn):
        conn.executemany(f"DELETE FROM {LOADING} WHERE key = ? AND rid = ?", gone)


def pack_keys(keys: Sequence[int]) -> bytes:
    """A person's filing keys as the ``person`` row keeps them (for the next write to diff against)."""
    return struct.pack(f"<{len(keys)}q", *keys)


def _unpack(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 8}q", blob)


def write_person(conn: sqlite3.Connection, rid: int, entry: PersonEntry | None, *, existed: bool) -> None:
    """Make the index rows of the Patient in row ``rid`` say ``entry`` (None: it is deleted), inside the caller's
    transaction; only the keys that changed are written. ``existed``: the Patient had a row before this write."""
    old: tuple[int, ...] = ()
    if existed:
        found = conn.execute("SELECT keys FROM person WHERE rid = ?", (rid,)).fetchone()
        old = () if found is None else _unpack(found[0])
    new = () if entry is None else entry.keys
    gone = set(old).difference(new)
    added = set(new).difference(old)
    if gone:
        _forget(conn, [(key, rid) for key in gone])
    if entry is None:
        if existed:
            conn.execute("DELETE FROM person WHERE rid = ?", (rid,))
        return
    conn.execute(
        "INSERT OR REPLACE INTO person (rid, id, nhs, birth, postcode, flags, names, keys) VALUES (?,?,?,?,?,?,?,?)",
        (rid, *entry.row, pack_keys(entry.keys)),
    )
    if added:
        conn.executemany("INSERT OR IGNORE INTO person_key (key, rid) VALUES (?, ?)", [(key, rid) for key in added])


def write_people(conn: sqlite3.Connection, people: Sequence[tuple[int, PersonEntry | None, bool]]) -> None:
    """``write_person`` for each (rid, entry, existed) of a batch of distinct Patients, each table written by one
    ``executemany``."""
    old: dict[int, tuple[int, ...]] = {}
    existing = [rid for rid, _, existed in people if existed]
    for start in range(0, len(existing), 500):
        chunk = existing[start : start + 500]
        held = conn.execute(f"SELECT rid, keys FROM person WHERE rid IN ({','.join('?' * len(chunk))})", chunk)
        old.update((rid, _unpack(keys)) for rid, keys in held)
    gone: list[tuple[int, int]] = []
    added: list[tuple[int, int]] = []
    rows: list[tuple[object, ...]] = []
    deleted: list[tuple[int]] = []
    for rid, entry, existed in people:
        before = old.get(rid, ())
        new = () if entry is None else entry.keys
        gone.extend((key, rid) for key in set(before).difference(new))
        added.extend((key, rid) for key in set(new).difference(before))
        if entry is None:
            if existed:
                deleted.append((rid,))
        else:
            rows.append((rid, *entry.row, pack_keys(entry.keys)))
    if gone:
        _forget(conn, gone)
    if deleted:
        conn.executemany("DELETE FROM person WHERE rid = ?", deleted)
    conn.executemany(
        "INSERT OR REPLACE INTO person (rid, id, nhs, birth, postcode, flags, names, keys) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany("INSERT OR IGNORE INTO person_key (key, rid) VALUES (?, ?)", added)


class SqlitePersonRows:
    """``PersonRows`` on the node's SQLite file (the connection of the calling thread)."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    def block(self, lookup: Lookup) -> list[PersonRow]:
        parts: list[str] = []
        args: list[int] = []
        if lookup.keys:
            parts.append(f"SELECT rid FROM person_key WHERE key IN ({','.join('?' * len(lookup.keys))})")
            args.extend(lookup.keys)
        for low, high in lookup.ranges:
            parts.append("SELECT rid FROM person_key WHERE key BETWEEN ? AND ?")
            args.extend((low, high))
        if not parts:
            return []
        try:
            rows = self.db.connection().execute(f"{_ROWS}({' UNION ALL '.join(parts)})", args).fetchall()
        except sqlite3.Error as exc:
            raise Unavailable("The person index cannot be read") from exc
        return [PersonRow._make(row) for row in rows]

    def ensure(self) -> int:
        try:
            if self._mark(self.db.connection()) == VERSION:
                return 0
            return self._build(force=False)
        except sqlite3.Error as exc:
            raise Unavailable("The person index cannot be built") from exc

    def rebuild(self) -> int:
        """Make every row again from the stored Patients; the number of people indexed."""
        try:
            return self._build(force=True)
        except sqlite3.Error as exc:
            raise Unavailable("The person index cannot be built") from exc

    def _mark(self, conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT v FROM store_meta WHERE k = ?", (MARK,)).fetchone()
        return None if row is None else str(row[0])

    def _build(self, *, force: bool) -> int:
        with self.db.transaction() as conn:
            if not force and self._mark(conn) == VERSION:
                return 0  # another process built it while this one waited for the lock
            conn.execute("DELETE FROM person_key")
            conn.execute(f"DROP TABLE IF EXISTS {LOADING}")
            conn.execute("DELETE FROM person")
            built = 0
            patients = conn.execute("SELECT rid, id, json FROM resource WHERE rtype = 'Patient' AND deleted = 0")
            while batch := patients.fetchmany(1000):
                for rid, id_, payload in batch:
                    write_person(conn, rid, person_entry({**orjson.loads(unpack(payload)), "id": id_}), existed=False)
                    built += 1
            conn.execute("INSERT OR REPLACE INTO store_meta (k, v) VALUES (?, ?)", (MARK, VERSION))
            return built

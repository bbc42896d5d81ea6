"""A first load's batches built by worker processes, merged into the node's SQLite file (issue 17, import at scale).

A worker writes the stored rows of a batch of new resources (``stage``: the JSON stamped as version 1 and packed,
the search rows, the person row and keys) to a small file of its own, numbered from 1; the importer's process then
takes them in with ``INSERT … SELECT``, renumbered after the file's last row, in one transaction with the import's
mark (``merge``). What the store's own ``write_many`` would have written, row for row
(``tests/unit/fhir/bulk/test_parallel.py``), at about half the importer's cost of binding each row from Python
(docs/decisions.md, "A first load's rows built in worker processes").

A resource of the batch already held (a team imported before, an id twice in the file) fails the merge on the
resource table's unique key: the transaction is rolled back and ``merge`` answers False, and the caller writes that
batch through ``write_many``, which makes it an update.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mais_node.errors import Unavailable
from mais_node.storage.keyset import stamp
from mais_node.storage.packed_json import pack
from mais_node.storage.port import PERSON_TYPE, Change
from mais_node.storage.sqlite_person_index import LOADING, begin_load, pack_keys

if TYPE_CHECKING:
    from mais_node.storage.sqlite import SqliteDatabase

_SCHEMA = """
CREATE TABLE resource (rid INTEGER PRIMARY KEY, rtype TEXT, id TEXT, lu TEXT, json BLOB);
CREATE TABLE sidx (rid INTEGER, p TEXT, v TEXT, s TEXT, x TEXT, lo TEXT, hi TEXT);
CREATE TABLE person (rid INTEGER PRIMARY KEY, id TEXT, nhs INTEGER, birth INTEGER, postcode INTEGER, flags INTEGER,
    names TEXT, keys BLOB);
CREATE TABLE person_key (key INTEGER, rid INTEGER);
"""
# Each statement renumbers the staged rows after the store's last (``?1``); the versions are numbered by the table.
_MERGE = (
    "INSERT INTO main.resource (rid, rtype, id, vid, lu, deleted, json)"
    " SELECT rid + ?1, rtype, id, 1, lu, 0, json FROM stage.resource ORDER BY rid",
    "INSERT INTO main.sidx (rid, p, v, s, x, lo, hi)"
    " SELECT rid + ?1, p, v, s, x, lo, hi FROM stage.sidx ORDER BY rowid",
    "INSERT INTO main.person (rid, id, nhs, birth, postcode, flags, names, keys)"
    " SELECT rid + ?1, id, nhs, birth, postcode, flags, names, keys FROM stage.person ORDER BY rid",
    # Into the load's own table (in rid order), sorted into person_key when the load ends (sqlite_person_index.py).
    f"INSERT OR IGNORE INTO main.{LOADING} (rid, key) SELECT rid + ?1, key FROM stage.person_key ORDER BY rid, key",
)
_VERSIONS = (
    "INSERT INTO main.resource_version (rtype, id, vid, lu, deleted, json)"
    " SELECT rtype, id, 1, lu, 0, json FROM stage.resource ORDER BY rid"
)


def stage(path: str, changes: Sequence[Change]) -> None:
    """Write the rows of the creations ``changes`` (each a new resource, once) to a new file at ``path``; in a
    worker process."""
    resource_rows: list[tuple[object, ...]] = []
    index_rows: list[tuple[object, ...]] = []
    person_rows: list[tuple[object, ...]] = []
    key_rows: list[tuple[int, int]] = []
    for rid, change in enumerate(changes, start=1):
        packed = pack(stamp(change.body or {}, 1, change.last_updated))
        resource_rows.append((rid, change.resource_type, change.id, change.last_updated, packed))
        prefix = change.resource_type + "."
        index_rows.extend((rid, prefix + p, v, s, x, lo, hi) for p, v, s, x, lo, hi in change.index)
        if change.resource_type == PERSON_TYPE and change.person is not None:
            person_rows.append((rid, *change.person.row, pack_keys(change.person.keys)))
            key_rows.extend((key, rid) for key in set(change.person.keys))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.executescript(_SCHEMA)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO resource VALUES (?, ?, ?, ?, ?)", resource_rows)
        conn.executemany("INSERT INTO sidx VALUES (?, ?, ?, ?, ?, ?, ?)", index_rows)
        conn.executemany("INSERT INTO person VALUES (?, ?, ?, ?, ?, ?, ?, ?)", person_rows)
        conn.executemany("INSERT INTO person_key VALUES (?, ?)", key_rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def merge(db: SqliteDatabase, path: str, mark: tuple[str, str]) -> bool:
    """Take the rows staged at ``path`` into the store with the mark, in one transaction; False (nothing written)
    when one of its resources is held already. The staged file is removed either way."""
    conn = db.connection()
    try:
        conn.execute("ATTACH DATABASE ? AS stage", (path,))
    except sqlite3.Error as exc:
        Path(path).unlink(missing_ok=True)
        raise Unavailable("A staged batch of the import cannot be read: run the same command again") from exc
    try:
        with db.transaction() as tx:
            begin_load(tx)  # again: another process's opening may have finished the load's keys meanwhile
            top = tx.execute("SELECT coalesce(max(rid), 0) FROM resource").fetchone()[0]
            for statement in _MERGE:
                tx.execute(statement, (top,))
            tx.execute(_VERSIONS)
            tx.execute("INSERT OR REPLACE INTO store_meta (k, v) VALUES (?, ?)", mark)
        return True
    except sqlite3.IntegrityError:
        return False
    except sqlite3.Error as exc:
        raise Unavailable("The resource store could not be written") from exc
    finally:
        conn.execute("DETACH DATABASE stage")
        Path(path).unlink(missing_ok=True)

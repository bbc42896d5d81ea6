"""The embedded store: one SQLite file in WAL mode (DESIGN §8).

Tables: ``resource`` (the current version of each resource), ``resource_version`` (every version, the history),
``sidx`` (the searchable values of current resources, one row per value); a Patient's person-index rows
(``sqlite_person_index.py``) are written in the same transaction. A write is one ``BEGIN IMMEDIATE``
transaction, so writers in several processes queue on the file lock instead of failing with "database is locked".

The date index ``sidx_range`` holds only the rows that have a range (``lo``), the date parameters' values: indexing
every row there cost a written page per searchable value on every write, for entries no query reads. Date criteria
say ``lo IS NOT NULL`` so the planner may use it whatever their prefix. It replaces ``sidx_date`` (dropped at start).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mais_node.errors import InvalidRequest, Unavailable
from mais_node.fhir.search.query import (
    Criterion,
    DateValue,
    Query,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from mais_node.fhir.search.text import MAX_CHAR, normalise
from mais_node.fhir.search.text import VERSION as NORMALISATION
from mais_node.matching.rows import PersonEntry
from mais_node.storage import sqlite_person_index, sqlite_staging
from mais_node.storage.keyset import check_version, keyset, stamp
from mais_node.storage.packed_json import pack, unpack
from mais_node.storage.port import PERSON_TYPE, Change, Page, Staging, Stored
from mais_node.storage.sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from mais_node.storage.sqlite_writers import write_lock

SCHEMA = """
CREATE TABLE IF NOT EXISTS resource (
    rid INTEGER PRIMARY KEY,
    rtype TEXT NOT NULL, id TEXT NOT NULL, vid INTEGER NOT NULL, lu TEXT NOT NULL,
    deleted INTEGER NOT NULL, json BLOB NOT NULL,
    UNIQUE (rtype, id)
);
CREATE INDEX IF NOT EXISTS resource_lu ON resource (rtype, lu);
CREATE TABLE IF NOT EXISTS resource_version (
    hseq INTEGER PRIMARY KEY,
    rtype TEXT NOT NULL, id TEXT NOT NULL, vid INTEGER NOT NULL, lu TEXT NOT NULL,
    deleted INTEGER NOT NULL, json BLOB NOT NULL,
    UNIQUE (rtype, id, vid)
);
CREATE INDEX IF NOT EXISTS resource_version_type ON resource_version (rtype, hseq);
CREATE TABLE IF NOT EXISTS sidx (
    rid INTEGER NOT NULL, p TEXT NOT NULL, v TEXT, s TEXT, x TEXT, lo TEXT, hi TEXT
);
DROP INDEX IF EXISTS sidx_date;
CREATE INDEX IF NOT EXISTS sidx_rid ON sidx (rid, p);
CREATE TABLE IF NOT EXISTS store_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
# The search index's value indexes: left out while a first bulk load writes (``bulk_load``), made at the end and at
# every opening of the file (so an interrupted load leaves them whole again at the next start).
VALUE_INDEXES = """
CREATE INDEX IF NOT EXISTS sidx_value ON sidx (p, v, s, rid);
CREATE INDEX IF NOT EXISTS sidx_range ON sidx (p, lo, hi, rid) WHERE lo IS NOT NULL;
"""

_COLUMNS = "r.rtype, r.id, r.vid, r.lu, r.deleted, r.json"


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url


class SqliteDatabase:
    """Owns one connection per thread to the node's SQLite file; the adapters of this module share it."""

    def __init__(self, url: str, *, synchronous: str = "NORMAL") -> None:
        self.path = _path(url)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._checkpointer = Checkpointer(self._checkpoint)
        self._write_lock = write_lock(self.path)
        try:
            conn = self.connection()
            conn.executescript(SCHEMA)
            _build_value_indexes(conn)
            sqlite_person_index.prepare(self.connection())
            if sqlite_person_index.load_pending(conn):  # a first load interrupted (or under way in another process)
                sqlite_person_index.finish_load(self)
            self._renormalise()
        except sqlite3.Error as exc:
            raise Unavailable("The resource store cannot be prepared") from exc

    def _renormalise(self) -> None:
        """Make the string index values again when they were made by another version of the search normalisation
        (fhir/search/text.py): from ``x``, the value as written, in one transaction, once (docs/decisions.md)."""
        conn = self.connection()
        query = "SELECT v FROM store_meta WHERE k = 'string-normalisation'"
        if (conn.execute(query).fetchone() or (None,))[0] == NORMALISATION:
            return
        conn.create_function("mais_normalise", 1, normalise, deterministic=True)
        with self.transaction() as tx:
            if (tx.execute(query).fetchone() or (None,))[0] == NORMALISATION:
                return  # another process did it while this one waited for the lock
            tx.execute("UPDATE sidx SET v = mais_normalise(x) WHERE x IS NOT NULL")
            tx.execute("INSERT OR REPLACE INTO store_meta (k, v) VALUES ('string-normalisation', ?)", (NORMALISATION,))

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA temp_store=MEMORY")
                # No memory map: a commit by another connection (the audit writer's, every group) makes SQLite drop
                # this connection's cache at its next read, and with a map it also unmaps and maps the file again,
                # faulting in every page it then touches; read() into the cache is cheaper (docs/decisions.md).
                conn.execute("PRAGMA mmap_size=0")
                conn.execute("PRAGMA cache_size=-65536")
                conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")  # checkpoints run in the background
            except sqlite3.Error as exc:
                raise Unavailable("The resource store cannot be opened") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with the write lock up front."""
        conn = self.connection()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise Unavailable("The resource store is not writable") from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise Unavailable("The resource store could not commit") from exc
        if self.path != ":memory:":
            self._checkpointer.wrote()

    def _checkpoint(self) -> None:
        self.connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        self._checkpointer.stop()
        self._checkpointer = Checkpointer(self._checkpoint)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _build_value_indexes(conn: sqlite3.Connection) -> None:
    """Make the value indexes where they are missing (after a bulk load, or at the opening after one that crashed):
    the build sorts every row of ``sidx``, in temporary files rather than in memory, whatever the population."""
    conn.execute("PRAGMA temp_store=FILE")
    try:
        for statement in VALUE_INDEXES.strip().splitlines():
            conn.execute(statement)
    finally:
        conn.execute("PRAGMA temp_store=MEMORY")


def _distinct(changes: Sequence[Change]) -> bool:
    return len({(change.resource_type, change.id) for change in changes}) == len(changes)


CURRENT_CHUNK = 500  # ids a query names (well within SQLite's limit of bound parameters)


def _current(conn: sqlite3.Connection, changes: Sequence[Change]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(rid, vid, deleted) of each resource of ``changes`` the store holds, by (type, id)."""
    ids: dict[str, list[str]] = {}
    for change in changes:
        ids.setdefault(change.resource_type, []).append(change.id)
    found: dict[tuple[str, str], tuple[int, int, int]] = {}
    for rtype, named in ids.items():
        for start in range(0, len(named), CURRENT_CHUNK):
            chunk = named[start : start + CURRENT_CHUNK]
            rows = conn.execute(
                f"SELECT id, rid, vid, deleted FROM resource WHERE rtype = ? AND id IN ({','.join('?' * len(chunk))})",
                (rtype, *chunk),
            )
            found.update(((rtype, row[0]), (row[1], row[2], row[3])) for row in rows)
    return found


def _insert_index(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Search-index rows, in one statement (in the order given: sorting them by the value index's key first was
    measured slower, docs/decisions.md)."""
    conn.executemany("INSERT INTO sidx (rid, p, v, s, x, lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _row(row: Sequence[Any]) -> Stored:
    return Stored(row[0], row[1], row[2], row[3], bool(row[4]), unpack(row[5]))


class SqliteResourceStore:
    """The ``ResourceStore`` port on SQLite."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    # -- writes -------------------------------------------------------------------------------------------
    def write(self, change: Change) -> Stored:
        try:
            with self.db.transaction() as conn:
                return self._write(conn, change)
        except sqlite3.Error as exc:
            raise Unavailable("The resource store could not be written") from exc

    def write_many(self, changes: Sequence[Change], *, mark: tuple[str, str | None] | None = None) -> list[Stored]:
        try:
            with self.db.transaction() as conn:
                if _distinct(changes):
                    written = self._write_batch(conn, changes)
                else:  # a resource changed twice in one batch: one change after the other
                    index: dict[int, list[tuple[Any, ...]]] = {}
                    written = [self._write(conn, change, index) for change in changes]
                    _insert_index(conn, [row for rows in index.values() for row in rows])
                if mark is not None and mark[1] is None:
                    conn.execute("DELETE FROM store_meta WHERE k = ?", (mark[0],))
                elif mark is not None:
                    conn.execute("INSERT OR REPLACE INTO store_meta (k, v) VALUES (?, ?)", mark)
                return written
        except sqlite3.Error as exc:
            raise Unavailable("The resource store could not be written") from exc

    def _write_batch(self, conn: sqlite3.Connection, changes: Sequence[Change]) -> list[Stored]:
        """Changes to distinct resources in the open transaction, each table written by one ``executemany`` (a bulk
        import's batch): the same rows, versions and checks as ``_write`` one change at a time."""
        current = _current(conn, changes)
        top = conn.execute("SELECT coalesce(max(rid), 0) FROM resource").fetchone()[0]
        inserted: list[tuple[Any, ...]] = []
        updated: list[tuple[Any, ...]] = []
        versions: list[tuple[Any, ...]] = []
        index: list[tuple[Any, ...]] = []
        people: list[tuple[int, PersonEntry | None, bool]] = []
        written: list[Stored] = []
        for change in changes:
            held = current.get((change.resource_type, change.id))
            check_version(change, None if held is None else (held[1], bool(held[2])))
            version = 1 if held is None else held[1] + 1
            deleted = change.operation == "delete"
            payload = b"" if deleted or change.body is None else stamp(change.body, version, change.last_updated)
            packed = pack(payload)
            if held is None:
                top += 1
                rid = top
                inserted.append((rid, change.resource_type, change.id, version, change.last_updated, deleted, packed))
            else:
                rid = held[0]
                updated.append((version, change.last_updated, deleted, packed, rid))
            versions.append((change.resource_type, change.id, version, change.last_updated, deleted, packed))
            if not deleted:
                prefix = change.resource_type + "."
                index.extend((rid, prefix + p, v, sy, x, lo, hi) for p, v, sy, x, lo, hi in change.index)
            if change.resource_type == PERSON_TYPE:
                people.append((rid, None if deleted else change.person, held is not None))
            written.append(Stored(change.resource_type, change.id, version, change.last_updated, deleted, payload))
        conn.executemany(
            "INSERT INTO resource (rid, rtype, id, vid, lu, deleted, json) VALUES (?, ?, ?, ?, ?, ?, ?)", inserted
        )
        if updated:
            conn.executemany("UPDATE resource SET vid = ?, lu = ?, deleted = ?, json = ? WHERE rid = ?", updated)
            conn.executemany("DELETE FROM sidx WHERE rid = ?", [(row[4],) for row in updated])
        conn.executemany(
            "INSERT INTO resource_version (rtype, id, vid, lu, deleted, json) VALUES (?, ?, ?, ?, ?, ?)", versions
        )
        _insert_index(conn, index)
        sqlite_person_index.write_people(conn, people)
        return written

    @contextmanager
    def bulk_load(self) -> Iterator[Staging]:
        """The value indexes of ``sidx`` dropped for the block and built once at its end, from the sorted rows: a
        first load of a large population writes about half as many index pages (docs/decisions.md). The index of
        ``sidx`` by row stays, so that a resource written twice still finds its old rows without a scan. The person
        keys of the staged batches wait in a table of the load's own and are sorted into ``person_key`` at the end
        (``sqlite_person_index.finish_load``).

        An interrupted load (``KeyboardInterrupt``: Ctrl-C, a service manager's stop) leaves them to the store's next
        opening: building them takes minutes at millions of people, longer than a service manager waits, and the
        import resumed next would drop them again."""
        try:
            with self.db.transaction() as conn:
                conn.execute("DROP INDEX IF EXISTS sidx_value")
                conn.execute("DROP INDEX IF EXISTS sidx_range")
                sqlite_person_index.begin_load(conn)
        except sqlite3.Error as exc:
            raise Unavailable("The resource store could not be written") from exc
        interrupted = False
        try:
            yield Staging(sqlite_staging.stage, functools.partial(sqlite_staging.merge, self.db))
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if not interrupted:
                try:  # transactions of their own: the WAL written by each can be checkpointed before the next
                    sqlite_person_index.finish_load(self.db)
                    with self.db.transaction() as conn:
                        _build_value_indexes(conn)
                except sqlite3.Error as exc:  # the next opening of the file makes them
                    raise Unavailable("The search index could not be built: it is made at the next start") from exc

    def read_mark(self, key: str) -> str | None:
        try:
            row = self.db.connection().execute("SELECT v FROM store_meta WHERE k = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise Unavailable("The resource store cannot be read") from exc
        return None if row is None else str(row[0])

    def _write(
        self, conn: sqlite3.Connection, change: Change, index: dict[int, list[tuple[Any, ...]]] | None = None
    ) -> Stored:
        """One change in the open transaction; its search-index rows are written, or added to ``index`` for the
        caller to write with those of the rest of its batch in one statement."""
        current = conn.execute(
            "SELECT rid, vid, deleted FROM resource WHERE rtype = ? AND id = ?",
            (change.resource_type, change.id),
        ).fetchone()
        check_version(change, None if current is None else (current[1], bool(current[2])))
        version = 1 if current is None else current[1] + 1
        deleted = change.operation == "delete"
        payload = b"" if deleted or change.body is None else stamp(change.body, version, change.last_updated)
        packed = pack(payload)
        if current is None:
            rid = conn.execute(
                "INSERT INTO resource (rtype, id, vid, lu, deleted, json) VALUES (?, ?, ?, ?, ?, ?)",
                (change.resource_type, change.id, version, change.last_updated, deleted, packed),
            ).lastrowid
        else:
            rid = current[0]
            conn.execute(
                "UPDATE resource SET vid = ?, lu = ?, deleted = ?, json = ? WHERE rid = ?",
                (version, change.last_updated, deleted, packed, rid),
            )
            conn.execute("DELETE FROM sidx WHERE rid = ?", (rid,))
            if index is not None:
                index.pop(rid, None)  # an earlier change of the same batch to this resource
        conn.execute(
            "INSERT INTO resource_version (rtype, id, vid, lu, deleted, json) VALUES (?, ?, ?, ?, ?, ?)",
            (change.resource_type, change.id, version, change.last_updated, deleted, packed),
        )
        if not deleted:
            prefix = change.resource_type + "."
            rows = [(rid, prefix + p, v, sy, x, lo, hi) for p, v, sy, x, lo, hi in change.index]
            if index is None:
                _insert_index(conn, rows)
            else:
                index[int(rid or 0)] = rows
        if change.resource_type == PERSON_TYPE:
            assert rid is not None  # an INSERT's lastrowid
            sqlite_person_index.write_person(conn, rid, None if deleted else change.person, existed=current is not None)
        return Stored(change.resource_type, change.id, version, change.last_updated, deleted, payload)

    # -- reads --------------------------------------------------------------------------------------------
    def read(self, resource_type: str, id: str, version: int | None = None) -> Stored | None:
        try:
            conn = self.db.connection()
            if version is None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM resource r WHERE rtype = ? AND id = ?", (resource_type, id)
                ).fetchone()
            else:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM resource_version r WHERE rtype = ? AND id = ? AND vid = ?",
                    (resource_type, id, version),
                ).fetchone()
        except sqlite3.Error as exc:
            raise Unavailable("The resource store cannot be read") from exc
        return None if row is None else _row(row)

    def history(
        self,
        resource_type: str | None,
        id: str | None,
        count: int,
        after: tuple[str, ...] | None,
        *,
        since: str | None = None,
    ) -> Page:
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("lu >= ?")
            args.append(since)
        if resource_type is not None:
            where.append("rtype = ?")
            args.append(resource_type)
        if id is not None:
            where.append("id = ?")
            args.append(id)
        if after:
            where.append("hseq < ?")
            args.append(int(after[0]) if after[0].isdigit() else 0)
        sql = (
            f"SELECT {_COLUMNS}, r.hseq FROM resource_version r"
            f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY hseq DESC LIMIT ?"
        )
        try:
            rows = self.db.connection().execute(sql, (*args, count + 1)).fetchall()
        except sqlite3.Error as exc:
            raise Unavailable("The resource store cannot be read") from exc
        more = len(rows) > count
        rows = rows[:count]
        return Page([_row(r) for r in rows], (str(rows[-1][6]),) if more and rows else None)

    def latest_change(self, *resource_types: str) -> str:
        marks = ", ".join("?" * len(resource_types))
        try:
            row = (
                self.db.connection()
                .execute(f"SELECT max(hseq) FROM resource_version WHERE rtype IN ({marks})", resource_types)
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise Unavailable("The resource store cannot be read") from exc
        return "" if row[0] is None else str(row[0])

    def search(self, query: Query) -> Page:
        conn = self.db.connection()
        try:
            driver = query.selective if query.selective is not None else _choose_driver(conn, query)
            compiled = _compile(query, driver)
            total = None
            if query.total:
                total = conn.execute(
                    f"SELECT count(*) FROM resource r WHERE {compiled.where}", compiled.args
                ).fetchone()[0]
            if query.count == 0:
                return Page([], None, total)
            rows = conn.execute(compiled.select, compiled.select_args).fetchall()
        except sqlite3.Error as exc:
            raise Unavailable("The resource store cannot be searched") from exc
        more = len(rows) > query.count
        rows = rows[: query.count]
        after = tuple(str(v) for v in rows[-1][6:]) if more and rows else None
        return Page([_row(r) for r in rows], after, total)

    def ping(self) -> None:
        try:
            self.db.connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise Unavailable("The resource store is unreachable") from exc


class _Compiled:
    def __init__(self, where: str, args: list[Any], select: str, select_args: list[Any]) -> None:
        self.where, self.args, self.select, self.select_args = where, args, select, select_args


def _value_sql(value: Value) -> tuple[str, list[Any]]:
    if isinstance(value, StringValue):
        if value.match == "exact":
            return "x = ?", [value.text]
        if value.match == "contains":
            return "instr(v, ?) > 0", [value.text]
        return "v >= ? AND v < ?", [value.text, value.text + MAX_CHAR]
    if isinstance(value, TokenValue):
        parts, args = [], []
        if value.code is not None:
            parts.append("v = ?")
            args.append(value.code)
        if value.system is not None:
            parts.append("s = ?")
            args.append(value.system)
        return " AND ".join(parts) or "1", args
    if isinstance(value, ReferenceValue):
        if "/" in value.reference:
            return "v = ?", [value.reference]
        return "v LIKE ? ESCAPE '\\'", ["%/" + value.reference.replace("%", "\\%").replace("_", "\\_")]
    if isinstance(value, UriValue):
        return "v = ?", [value.uri]
    return _date_sql(value)


def _date_sql(value: DateValue) -> tuple[str, list[Any]]:
    lo, hi = value.lo, value.hi
    table: dict[str, tuple[str, list[Any]]] = {
        "eq": ("lo >= ? AND hi <= ?", [lo, hi]),
        "ne": ("NOT (lo >= ? AND hi <= ?)", [lo, hi]),
        "gt": ("hi > ?", [hi]),
        "lt": ("lo < ?", [lo]),
        "ge": ("hi > ?", [lo]),
        "le": ("lo < ?", [hi]),
        "sa": ("lo >= ?", [hi]),
        "eb": ("hi <= ?", [lo]),
        "ap": ("lo < ? AND hi > ?", [hi, lo]),
    }
    return table[value.prefix]


# A criterion matching at most this many index rows drives the query; broader ones filter a scan in sort order.
DRIVER_LIMIT = 500


def _match_sql(resource_type: str, criterion: Criterion) -> tuple[str, list[Any]]:
    """The sidx condition of one criterion (without negation): ``p = ? AND (value OR value …)``."""
    key = f"{resource_type}.{criterion.param}"
    if criterion.missing is not None:
        return "p = ?", [key]
    parts, args = [], [key]
    for value in criterion.values:
        sql, value_args = _value_sql(value)
        parts.append(f"({sql})")
        args.extend(value_args)
    # Every date value is indexed with a range; saying so lets the planner use the partial index sidx_range.
    ranged = (
        "lo IS NOT NULL AND " if criterion.values and all(isinstance(v, DateValue) for v in criterion.values) else ""
    )
    return f"p = ? AND {ranged}({' OR '.join(parts)})", args


def _criterion_sql(resource_type: str, criterion: Criterion, *, driver: bool = False) -> tuple[str, list[Any]]:
    sql, args = _match_sql(resource_type, criterion)
    if driver:
        return f"r.rid IN (SELECT rid FROM sidx WHERE {sql})", args
    negative = criterion.negate or criterion.missing is True
    return (
        f"{'NOT ' if negative else ''}EXISTS (SELECT 1 FROM sidx s INDEXED BY sidx_rid WHERE s.rid = r.rid AND {sql})",
        args,
    )


def _choose_driver(conn: sqlite3.Connection, query: Query) -> int | None:
    """The most selective positive criterion, when it is selective enough to drive the query by its index."""
    best: tuple[int, int] | None = None
    for i, criterion in enumerate(query.criteria):
        if criterion.negate or criterion.missing is not None:
            continue
        sql, args = _match_sql(query.resource_type, criterion)
        hits = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM sidx WHERE {sql} LIMIT ?)", [*args, DRIVER_LIMIT + 1]
        ).fetchone()[0]
        if hits <= DRIVER_LIMIT and (best is None or hits < best[1]):
            best = (i, hits)
    return None if best is None else best[0]


def _sort_sql(resource_type: str, param: str) -> tuple[str, list[Any]]:
    if param == "_id":
        return "r.id", []
    if param == "_lastUpdated":
        return "r.lu", []
    return (
        "coalesce((SELECT min(coalesce(v, lo)) FROM sidx s INDEXED BY sidx_rid WHERE s.rid = r.rid AND s.p = ?), '')",
        [f"{resource_type}.{param}"],
    )


def _compile(query: Query, driver: int | None = None) -> _Compiled:
    # With a driving criterion, "+r.rtype" keeps the planner from scanning the type in sort order instead.
    where = ["+r.rtype = ?" if driver is not None else "r.rtype = ?", "r.deleted = 0"]
    args: list[Any] = [query.resource_type]
    for i, criterion in enumerate(query.criteria):
        sql, more = _criterion_sql(query.resource_type, criterion, driver=i == driver)
        where.append(sql)
        args.extend(more)
    sorts = [_sort_sql(query.resource_type, key.param) for key in query.sort]
    select_where, select_args = list(where), list(args)
    if query.after is not None:
        if len(query.after) != len(sorts):
            raise InvalidRequest("_cursor does not belong to this search", expression=("_cursor",))
        after = query.after
        cond_args: list[Any] = []

        def compare(i: int, descending: bool) -> str:
            cond_args.extend([*sorts[i][1], after[i]])
            return f"{sorts[i][0]} {'<' if descending else '>'} ?"

        def equal(i: int) -> str:
            cond_args.extend([*sorts[i][1], after[i]])
            return f"{sorts[i][0]} = ?"

        cond = keyset(
            query.sort,
            after,
            compare,
            equal,
            lambda xs: "(" + " AND ".join(xs) + ")",
            lambda xs: "(" + " OR ".join(xs) + ")",
        )
        # The leading key's own range ("k1 >= v1") lets SQLite seek in the sort index instead of scanning from
        # the start for every page: without it, paging through a large type is quadratic.
        lead, lead_args = sorts[0]
        select_where.append(f"{lead} {'<=' if query.sort[0].descending else '>='} ?")
        select_args.extend([*lead_args, after[0]])
        select_where.append(cond)
        select_args.extend(cond_args)
    order = ", ".join(
        f"{expr} {'DESC' if key.descending else 'ASC'}" for (expr, _), key in zip(sorts, query.sort, strict=True)
    )
    sort_columns = ", ".join(expr for expr, _ in sorts)
    sort_args = [a for _, sargs in sorts for a in sargs]
    order_args = list(sort_args)
    select = (
        f"SELECT {_COLUMNS}, {sort_columns} FROM resource r WHERE {' AND '.join(select_where)} ORDER BY {order} LIMIT ?"
    )
    return _Compiled(" AND ".join(where), args, select, [*sort_args, *select_args, *order_args, query.count + 1])

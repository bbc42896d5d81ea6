"""The audit trail on the embedded store (DESIGN §7, §8): hash-chained AuditEvents in the node's SQLite file.

An append is one ``BEGIN IMMEDIATE`` transaction (read the tail, insert seq + 1 and its index keys), so writers in
several threads or processes queue on the file lock and the chain never forks. WAL with ``synchronous=FULL``: a
committed record survives power loss. Each thread has its own connection. The event is kept zlib-compressed:
a BALP event is ~2.6 KB of JSON, which would otherwise take a 4 KB page to itself. Every sqlite3 error becomes
AuditUnavailable here, so the node fails closed.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing
from pathlib import Path

import orjson

from mais_node.audit.chain import GENESIS, record_from, seal, to_micros
from mais_node.audit.checkpoint import Checkpoint
from mais_node.audit.index import index_keys
from mais_node.audit.port import AuditPage, AuditRecord, Event
from mais_node.audit.query import AuditQuery, count_pages, page_of
from mais_node.clock import Clock, SystemClock
from mais_node.errors import AuditUnavailable
from mais_node.storage.sqlite_writers import write_lock

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, recorded INTEGER NOT NULL,
    event BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_recorded ON audit_log (recorded);
CREATE TABLE IF NOT EXISTS audit_index (
    param TEXT NOT NULL, value TEXT NOT NULL, recorded INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (param, value, recorded, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoint (
    seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, time TEXT NOT NULL, jws TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, pad BLOB NOT NULL);
"""
PROBE_BYTES = 4096  # about one record with its index keys: a page the trail would need for its next record
_COLUMNS = "l.seq, l.prev_hash, l.hash, l.event"
_BATCH = 500
_MAX_ROWS = 500  # rows per multi-row INSERT (each a distinct statement text, so a bounded set)


class SqliteAuditLog:
    """AuditLog and CheckpointStore over one SQLite file (the same file as the resources)."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None, busy_timeout_ms: int = 10_000) -> None:
        self._path, self._busy = str(path), busy_timeout_ms
        self._clock = clock or SystemClock()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._write_lock = write_lock(self._path)
        self._tail: tuple[int, str] | None = None  # (seq, hash) of this log's last committed append: a guess
        try:
            self._conn().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be opened") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=self._busy / 1000)
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # the audit record is durable once COMMIT returns
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise sqlite3.ProgrammingError("the audit log is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()

    def append(self, event: Event) -> AuditRecord:
        return self.append_many([event])[-1]

    def append_many(self, events: Iterable[Event]) -> list[AuditRecord]:
        """Append several events in one transaction; all or none are kept.

        The events are sealed before the write lock is taken, on the tail this log last wrote, so the lock is held
        only for the inserts and the commit: resource writes and other appenders wait on it. When another thread or
        process appended meanwhile, the tail read under the lock differs and the events are sealed again there.
        """
        batch = list(events)
        try:
            conn = self._conn()
            with self._lock:
                guess = self._tail
            sealed = None if guess is None else _Sealed(batch, guess, self._clock)
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
                    tail = (row[0], row[1]) if row else (0, GENESIS)
                    if sealed is None or sealed.after != tail:
                        sealed = _Sealed(batch, tail, self._clock)
                    _insert_rows(conn, "INSERT INTO audit_log VALUES", sealed.rows, 5)
                    _insert_rows(conn, "INSERT OR IGNORE INTO audit_index VALUES", sealed.keys, 4)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be written") from exc
        if sealed.records:
            with self._lock:
                self._tail = (sealed.records[-1].seq, sealed.records[-1].hash)
        return sealed.records

    def probe(self) -> None:
        """One row of ``audit_probe`` rewritten as an append is written (same lock, same durability): fresh bytes,
        so the write needs the room a record would; the chain is untouched."""
        try:
            conn = self._conn()
            with self._write_lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "INSERT OR REPLACE INTO audit_probe VALUES (1, ?, randomblob(?))",
                        (to_micros(self._clock.now()), PROBE_BYTES),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be written") from exc

    def scan(self, from_seq: int = 1) -> Iterator[AuditRecord]:
        """Stream in seq order on a connection of its own, so a long export never blocks this thread's writes."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc
        return self._stream(
            conn, "SELECT seq, prev_hash, hash, event FROM audit_log WHERE seq >= ? ORDER BY seq", [from_seq]
        )

    def _stream(
        self, conn: sqlite3.Connection, sql: str, args: Sequence[object], *, own: bool = True
    ) -> Generator[AuditRecord, None, None]:
        cursor = None
        try:
            cursor = conn.execute(sql, args)
            while batch := cursor.fetchmany(_BATCH):
                for seq, prev_hash, hash_, event in batch:
                    yield record_from(seq, prev_hash, hash_, orjson.loads(zlib.decompress(event)))
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc
        finally:
            if cursor is not None:
                cursor.close()  # ends the read transaction even when the page filled early
            if own:
                conn.close()

    def search(self, query: AuditQuery) -> AuditPage:
        direction = "DESC" if query.descending else "ASC"
        driver = query.driver()
        table = "i" if driver else "l"
        where: list[str] = []
        args: list[object] = []
        sql = f"SELECT {_COLUMNS} FROM audit_log l"
        if driver:
            sql = f"SELECT {_COLUMNS} FROM audit_index i JOIN audit_log l ON l.seq = i.seq"
            where.append(f"i.param = ? AND i.value IN ({', '.join('?' * len(driver[1]))})")
            args.extend([driver[0], *driver[1]])
        if query.since is not None:
            where.append(f"{table}.recorded >= ?")
            args.append(to_micros(query.since))
        if query.until is not None:
            where.append(f"{table}.recorded < ?")
            args.append(to_micros(query.until))
        if query.after is not None:
            where.append(f"({table}.recorded, {table}.seq) {'<' if query.descending else '>'} (?, ?)")
            args.extend(query.after)
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        sql += f" ORDER BY {table}.recorded {direction}, {table}.seq {direction}"
        try:
            with closing(self._stream(self._conn(), sql, args, own=False)) as candidates:
                return page_of(candidates, query)
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc

    def count(self, query: AuditQuery) -> int:
        """From the index rows (or the log's) in the date window when they are exactly the matches, else by paging."""
        exact = query.counted_by_index()
        if exact is None:
            return count_pages(self.search, query)
        param, keys = exact
        where: list[str] = []
        args: list[object] = []
        if param:
            where.append(f"param = ? AND value IN ({', '.join('?' * len(keys))})")
            args.extend([param, *keys])
        if query.since is not None:
            where.append("recorded >= ?")
            args.append(to_micros(query.since))
        if query.until is not None:
            where.append("recorded < ?")
            args.append(to_micros(query.until))
        sql = "SELECT COUNT(DISTINCT seq) FROM audit_index" if param else "SELECT COUNT(*) FROM audit_log"
        sql += f" WHERE {' AND '.join(where)}" if where else ""
        try:
            return int(self._conn().execute(sql, args).fetchone()[0])
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc

    def last(self) -> AuditRecord | None:
        try:
            row = (
                self._conn()
                .execute("SELECT seq, prev_hash, hash, event FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc
        return record_from(row[0], row[1], row[2], orjson.loads(zlib.decompress(row[3]))) if row else None

    def put_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed checkpoint; under the file's in-process write lock like every other write, so it queues
        behind a resource transaction or an append instead of polling in SQLite's busy handler."""
        cp = checkpoint.to_json()
        try:
            conn = self._conn()
            with self._write_lock:
                conn.execute(
                    "INSERT OR IGNORE INTO audit_checkpoint VALUES (?, ?, ?, ?)",
                    (cp["seq"], cp["hash"], cp["time"], cp["jws"]),
                )
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit checkpoint cannot be written") from exc

    def latest_checkpoint(self) -> Checkpoint | None:
        try:
            row = (
                self._conn()
                .execute("SELECT seq, hash, time, jws FROM audit_checkpoint ORDER BY seq DESC LIMIT 1")
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise AuditUnavailable("the audit trail cannot be read") from exc
        return Checkpoint.from_json(dict(zip(("seq", "hash", "time", "jws"), row, strict=True))) if row else None


class _Sealed:
    """A batch sealed onto the chain after ``after`` (seq, hash): its records and the rows that store them."""

    def __init__(self, events: Sequence[Event], after: tuple[int, str], clock: Clock) -> None:
        self.after = after
        seq, prev = after
        self.records: list[AuditRecord] = []
        self.rows: list[tuple[object, ...]] = []
        self.keys: list[tuple[str, str, int, int]] = []
        agents_seen: dict[int, set[tuple[str, str]]] = {}  # one enquiry's records share their agents
        for event in events:
            seq += 1
            record = seal(event, seq, prev, clock)
            prev, at = record.hash, to_micros(record.recorded)
            self.records.append(record)
            self.rows.append((seq, record.prev_hash, record.hash, at, zlib.compress(orjson.dumps(record.event), 1)))
            self.keys.extend((param, value, at, seq) for param, value in index_keys(record.event, agents_seen))


def _insert_rows(conn: sqlite3.Connection, insert: str, rows: Sequence[Sequence[object]], width: int) -> None:
    """Many rows in as few statements as the variable limit allows.

    ``executemany`` steps once per row, and every step gives up the GIL and takes it back: a group of a few hundred
    index keys written from the group-commit thread while the event loop runs means a few hundred waits for the
    GIL. One multi-row ``VALUES`` is one step (docs/decisions.md, "Audit appends: sealed before the write lock").
    """
    per = max(1, min(_MAX_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    group = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        conn.execute(f"{insert} {', '.join([group] * len(chunk))}", [v for row in chunk for v in row])

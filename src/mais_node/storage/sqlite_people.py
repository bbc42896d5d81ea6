"""The console's accounts and sessions on the embedded store (DESIGN §8, §12), in the node's SQLite file.

``console_person`` (local accounts; updates conditional on ``version``, so two replicas counting failed sign-ins
never lose one) and ``console_session`` (sessions by the hash of their token; expired rows purged on each insert).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from mais_node.console.people import Person, Session
from mais_node.errors import Unavailable, VersionConflict
from mais_node.storage.sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS console_person (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS console_session (
    key TEXT PRIMARY KEY, expires REAL NOT NULL, doc BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS console_session_expires ON console_session (expires);
"""


class SqlitePeopleStore:
    """AccountStore and SessionStore on one SQLite file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        try:
            db.connection().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable("The console's tables cannot be prepared") from exc

    def put_person(self, person: Person, *, expected_version: int) -> None:
        doc = orjson.dumps(person.document())
        try:
            with self.db.transaction() as conn:
                if expected_version == 0:
                    conn.execute(
                        "INSERT INTO console_person (name, version, doc) VALUES (?, ?, ?)",
                        (person.name, person.version, doc),
                    )
                    return
                updated = conn.execute(
                    "UPDATE console_person SET version = ?, doc = ? WHERE name = ? AND version = ?",
                    (person.version, doc, person.name, expected_version),
                ).rowcount
        except sqlite3.IntegrityError as exc:
            raise VersionConflict(f"The account {person.name} already exists") from exc
        except sqlite3.Error as exc:
            raise Unavailable("The account could not be written") from exc
        if updated != 1:
            raise VersionConflict(f"The account {person.name} was changed concurrently; retry")

    def get_person(self, name: str) -> Person | None:
        rows = self._all("SELECT doc FROM console_person WHERE name = ?", (name,))
        return Person.from_document(orjson.loads(rows[0][0])) if rows else None

    def list_people(self) -> list[Person]:
        return [
            Person.from_document(orjson.loads(r[0]))
            for r in self._all("SELECT doc FROM console_person ORDER BY name", ())
        ]

    def put_session(self, session: Session) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM console_session WHERE expires < ?", (session.last_seen,))
                conn.execute(
                    "INSERT OR REPLACE INTO console_session (key, expires, doc) VALUES (?, ?, ?)",
                    (session.key, session.expires, orjson.dumps(session.document())),
                )
        except sqlite3.Error as exc:
            raise Unavailable("The session could not be written") from exc

    def get_session(self, key: str) -> Session | None:
        rows = self._all("SELECT doc FROM console_session WHERE key = ?", (key,))
        return Session.from_document(orjson.loads(rows[0][0])) if rows else None

    def delete_session(self, key: str) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM console_session WHERE key = ?", (key,))
        except sqlite3.Error as exc:
            raise Unavailable("The session could not be removed") from exc

    def _all(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self.db.connection().execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise Unavailable("The console's accounts cannot be read") from exc

"""The single view's follow-ups on the embedded store (DESIGN §8, §11): table ``single_view_follow_up``, one row per
view still followed. A claim is one ``BEGIN IMMEDIATE`` transaction, so workers in several processes sharing the
file never claim the same row; renew, release and end change a row only while the caller still holds its lease.
"""

from __future__ import annotations

import sqlite3

from mais_node.errors import Unavailable
from mais_node.network.ports import FollowUp
from mais_node.storage.sqlite import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS single_view_follow_up (
    view_id TEXT PRIMARY KEY, state BLOB NOT NULL, due REAL NOT NULL, until REAL NOT NULL,
    holder TEXT, lease_until REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS single_view_follow_up_due ON single_view_follow_up (due);
"""
_FREE = "due <= ? AND (holder IS NULL OR lease_until <= ?)"
_COLUMNS = "view_id, state, due, until, holder, lease_until"


class SqliteFollowUps:
    """FollowUps on the node's SQLite file."""

    db: SqliteDatabase

    def _prepare_follow_ups(self) -> None:
        try:
            self.db.connection().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable("The single view's follow-ups cannot be prepared") from exc

    def add_follow_up(self, follow_up: FollowUp) -> None:
        f = follow_up
        self._write(
            f"INSERT OR REPLACE INTO single_view_follow_up ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (f.view_id, f.state, f.due, f.until, f.holder, f.lease_until),
        )

    def claim_follow_ups(self, holder: str, *, now: float, lease_until: float, limit: int) -> list[FollowUp]:
        try:
            with self.db.transaction() as conn:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM single_view_follow_up WHERE {_FREE} ORDER BY due LIMIT ?",
                    (now, now, limit),
                ).fetchall()
                conn.executemany(
                    "UPDATE single_view_follow_up SET holder = ?, lease_until = ? WHERE view_id = ?",
                    [(holder, lease_until, r[0]) for r in rows],
                )
        except sqlite3.Error as exc:
            raise Unavailable("The single view's follow-ups cannot be read") from exc
        return [FollowUp(str(r[0]), bytes(r[1]), float(r[2]), float(r[3]), holder, lease_until) for r in rows]

    def renew_follow_up(self, view_id: str, holder: str, *, lease_until: float) -> bool:
        return self._write(
            "UPDATE single_view_follow_up SET lease_until = ? WHERE view_id = ? AND holder = ?",
            (lease_until, view_id, holder),
        )

    def release_follow_up(self, view_id: str, holder: str, *, state: bytes, due: float) -> bool:
        return self._write(
            "UPDATE single_view_follow_up SET state = ?, due = ?, holder = NULL, lease_until = 0 "
            "WHERE view_id = ? AND holder = ?",
            (state, due, view_id, holder),
        )

    def end_follow_up(self, view_id: str, holder: str) -> bool:
        return self._write("DELETE FROM single_view_follow_up WHERE view_id = ? AND holder = ?", (view_id, holder))

    def _write(self, sql: str, args: tuple[object, ...]) -> bool:
        try:
            with self.db.transaction() as conn:
                return conn.execute(sql, args).rowcount == 1
        except sqlite3.Error as exc:
            raise Unavailable("The single view's follow-ups could not be written") from exc

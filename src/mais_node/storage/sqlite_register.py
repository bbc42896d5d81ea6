"""The register's and the auth services' tables on the embedded store (DESIGN §8), in the node's SQLite file.

``oauth_client`` (systems), ``oauth_jti`` (the replay cache: a unique key per issuer and jti, expired rows purged on
each insert), ``rate_window`` (fixed-window counters), ``node_key`` (the node's signing keys: private JWKs, so the
file must be protected like the keys themselves — see docs). Each write is one ``BEGIN IMMEDIATE`` transaction, so
workers in several processes sharing the file see one replay cache and one set of counters.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from mais_node.auth.ports import KeyStatus, NodeKey
from mais_node.errors import Unavailable, VersionConflict
from mais_node.register.model import Client
from mais_node.storage.sqlite import SqliteDatabase
from mais_node.storage.sqlite_follow_ups import SqliteFollowUps
from mais_node.storage.sqlite_network import SqliteNetworkTables

SCHEMA = """
CREATE TABLE IF NOT EXISTS oauth_client (
    client_id TEXT PRIMARY KEY, org TEXT NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL, doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth_client_org ON oauth_client (org, created);
CREATE TABLE IF NOT EXISTS oauth_jti (
    iss TEXT NOT NULL, jti TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (iss, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oauth_jti_expires ON oauth_jti (expires);
CREATE TABLE IF NOT EXISTS rate_window (
    key TEXT NOT NULL, window INTEGER NOT NULL, n INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, window)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_key (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, created TEXT NOT NULL, status TEXT NOT NULL, since TEXT, jwk BLOB NOT NULL
);
"""


class SqliteRegisterStore(SqliteNetworkTables, SqliteFollowUps):
    """ClientStore, ReplayCache, RateCounter and NodeKeyStore (and the network's tables) on one SQLite file."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        try:
            db.connection().executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable("The register tables cannot be prepared") from exc
        self._prepare_network()
        self._prepare_follow_ups()

    # -- clients ------------------------------------------------------------------------------------------
    def put_client(self, client: Client, *, expected_version: int) -> None:
        doc = orjson.dumps(client.document())
        try:
            with self.db.transaction() as conn:
                if expected_version == 0:
                    conn.execute(
                        "INSERT INTO oauth_client (client_id, org, version, created, doc) VALUES (?, ?, ?, ?, ?)",
                        (client.client_id, client.org_ods, client.version, client.created, doc),
                    )
                    return
                updated = conn.execute(
                    "UPDATE oauth_client SET version = ?, doc = ? WHERE client_id = ? AND version = ?",
                    (client.version, doc, client.client_id, expected_version),
                ).rowcount
        except sqlite3.IntegrityError as exc:
            raise VersionConflict(f"Client {client.client_id} already exists") from exc
        except sqlite3.Error as exc:
            raise Unavailable("The register could not be written") from exc
        if updated != 1:
            raise VersionConflict(f"Client {client.client_id} was changed concurrently; retry")

    def get_client(self, client_id: str) -> Client | None:
        row = self._one("SELECT doc FROM oauth_client WHERE client_id = ?", (client_id,))
        return None if row is None else Client.from_document(orjson.loads(row[0]))

    def list_clients(self, org_ods: str | None = None) -> list[Client]:
        if org_ods is None:
            rows = self._all("SELECT doc FROM oauth_client ORDER BY created, client_id", ())
        else:
            rows = self._all("SELECT doc FROM oauth_client WHERE org = ? ORDER BY created, client_id", (org_ods,))
        return [Client.from_document(orjson.loads(r[0])) for r in rows]

    # -- replay cache -------------------------------------------------------------------------------------
    def first_use(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM oauth_jti WHERE expires < ?", (now,))
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO oauth_jti (iss, jti, expires) VALUES (?, ?, ?)", (issuer, jti, expires_at)
                ).rowcount
        except sqlite3.Error as exc:
            raise Unavailable("The replay cache could not be written") from exc
        return inserted == 1

    # -- rate counters ------------------------------------------------------------------------------------
    def hit(self, key: str, window: int, expires_at: float, n: int = 1) -> int:
        try:
            with self.db.transaction() as conn:
                row = conn.execute(
                    "INSERT INTO rate_window (key, window, n, expires) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key, window) DO UPDATE SET n = n + excluded.n RETURNING n",
                    (key, window, n, expires_at),
                ).fetchone()
                if row[0] == n:  # a new window: the key's older windows are over
                    conn.execute("DELETE FROM rate_window WHERE key = ? AND window < ?", (key, window))
        except sqlite3.Error as exc:
            raise Unavailable("The rate counter could not be written") from exc
        return int(row[0])

    # -- node keys ----------------------------------------------------------------------------------------
    def add_node_key(self, key: NodeKey) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO node_key (kid, alg, created, status, since, jwk) VALUES (?, ?, ?, ?, ?, ?)",
                    (key.kid, key.alg, key.created, key.status, key.status_since, orjson.dumps(key.jwk)),
                )
        except sqlite3.Error as exc:
            raise Unavailable("The node key could not be stored") from exc

    def node_keys(self) -> list[NodeKey]:
        rows = self._all("SELECT kid, alg, created, status, since, jwk FROM node_key ORDER BY created, kid", ())
        return [NodeKey(r[0], r[1], orjson.loads(r[5]), r[2], r[3], r[4]) for r in rows]

    def set_node_key_status(self, kid: str, status: KeyStatus, since: str) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute("UPDATE node_key SET status = ?, since = ? WHERE kid = ?", (status, since, kid))
        except sqlite3.Error as exc:
            raise Unavailable("The node key could not be changed") from exc

    # -- reads --------------------------------------------------------------------------------------------
    def _one(self, sql: str, args: tuple[object, ...]) -> tuple[bytes, ...] | None:
        try:
            row: tuple[bytes, ...] | None = self.db.connection().execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise Unavailable("The register cannot be read") from exc
        return row

    def _all(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self.db.connection().execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise Unavailable("The register cannot be read") from exc

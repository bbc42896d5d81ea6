"""Fixtures shared by every test: each storage test runs against every adapter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mongomock
import pytest

from mais_node.clock import FixedClock
from mais_node.storage.port import ResourceStore

MONGO_URI = os.environ.get("MAIS_TEST_MONGODB_URI")
NO_MONGO = "no MongoDB server on this machine (none in the reachable registries): set MAIS_TEST_MONGODB_URI to run"

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("mongo", id="mongo"),
    pytest.param("mongo-real", id="mongo-real", marks=pytest.mark.skipif(not MONGO_URI, reason=NO_MONGO)),
]


def make_store(kind: str, tmp_path: Path) -> tuple[ResourceStore, Any]:
    if kind == "sqlite":
        from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore

        db = SqliteDatabase(f"sqlite:///{tmp_path / 'mais.db'}")
        return SqliteResourceStore(db), db.close
    from mais_node.storage.mongo import MongoResourceStore

    if kind == "mongo":
        database = mongomock.MongoClient().get_database("mais")
        return MongoResourceStore(database), lambda: None
    from mais_node.storage.mongo import connect

    assert MONGO_URI is not None
    database = connect(MONGO_URI.rstrip("/") + f"/mais_test_{os.getpid()}")
    return MongoResourceStore(database), lambda: database.client.drop_database(database.name)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResourceStore]:
    resource_store, close = make_store(request.param, tmp_path)
    yield resource_store
    close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 26, 9, 30, tzinfo=UTC))

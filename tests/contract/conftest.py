"""Fixtures for the register-store contract: the same suite on SQLite and MongoDB (mongomock, or a real server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import mongomock
import pytest

from mais_node.auth.services import RegisterStore
from tests.conftest import STORES


@pytest.fixture(params=STORES)
def register_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegisterStore]:
    if request.param == "sqlite":
        from mais_node.storage.sqlite import SqliteDatabase
        from mais_node.storage.sqlite_register import SqliteRegisterStore

        db = SqliteDatabase(f"sqlite:///{tmp_path / 'register.db'}")
        yield SqliteRegisterStore(db)
        db.close()
        return
    from mais_node.storage.mongo import connect
    from mais_node.storage.mongo_register import MongoRegisterStore

    if request.param == "mongo":
        yield MongoRegisterStore(mongomock.MongoClient().get_database("mais"))
        return
    uri = os.environ["MAIS_TEST_MONGODB_URI"]
    database = connect(uri.rstrip("/") + f"/mais_register_{os.getpid()}")
    yield MongoRegisterStore(database)
    database.client.drop_database(database.name)

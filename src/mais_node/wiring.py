"""The composition root: open the adapters named by the settings and build the services on them.

The app factory and the CLI both build the node here, so a command and a request see the same parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mais_node.clock import Clock, SystemClock
from mais_node.config import Settings
from mais_node.errors import InvalidRequest
from mais_node.fhir.service import ResourceService
from mais_node.storage.port import ResourceStore


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: ResourceStore
    resources: ResourceService
    closers: list[Callable[[], None]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def open_store(url: str, *, mongo_database: Any = None) -> tuple[ResourceStore, Callable[[], None]]:
    """The resource store for ``sqlite:///PATH`` or ``mongodb://…`` (or an already open pymongo database)."""
    if mongo_database is not None:
        from mais_node.storage.mongo import MongoResourceStore

        return MongoResourceStore(mongo_database), lambda: None
    if url.startswith("sqlite:///") or url == ":memory:":
        from mais_node.storage.sqlite import SqliteDatabase, SqliteResourceStore

        db = SqliteDatabase(url)
        return SqliteResourceStore(db), db.close
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from mais_node.storage.mongo import MongoResourceStore, connect

        database = connect(url)
        return MongoResourceStore(database), database.client.close
    raise InvalidRequest("MAIS_STORE must be sqlite:///PATH or mongodb://…", expression=("store",))


def build_services(settings: Settings, *, clock: Clock | None = None, mongo_database: Any = None) -> Services:
    store, close_store = open_store(settings.store, mongo_database=mongo_database)
    clock = clock or SystemClock()
    resources = ResourceService(
        store, clock, default_count=settings.default_page_size, max_count=settings.max_page_size
    )
    return Services(settings, clock, store, resources, closers=[close_store])

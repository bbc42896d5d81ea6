"""The console's people store on the node's own store: the SQLite file, or the MongoDB database."""

from __future__ import annotations

from mais_node.console.people import PeopleStore
from mais_node.errors import InvalidRequest
from mais_node.storage.port import ResourceStore


def open_people_store(store: ResourceStore) -> PeopleStore:
    """The adapter on the same database as the resource store (as ``wiring.open_register_store`` does)."""
    from mais_node.storage.sqlite import SqliteResourceStore

    if isinstance(store, SqliteResourceStore):
        from mais_node.storage.sqlite_people import SqlitePeopleStore

        return SqlitePeopleStore(store.db)
    from mais_node.storage.mongo import MongoResourceStore

    if isinstance(store, MongoResourceStore):
        from mais_node.storage.mongo_people import MongoPeopleStore

        return MongoPeopleStore(store.db)
    raise InvalidRequest(f"No console account store for {type(store).__name__}")

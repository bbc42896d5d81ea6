"""The console's people store on the node's own store: the SQLite file, or the MongoDB database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mais_node.console.accounts import Accounts
from mais_node.console.people import PeopleStore
from mais_node.errors import InvalidRequest
from mais_node.storage.port import ResourceStore

if TYPE_CHECKING:
    from mais_node.wiring import Services


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


def open_accounts(services: Services) -> Accounts:
    """The local accounts on a node's store (what ``mais user`` and ``mais demo`` use)."""
    return Accounts(open_people_store(services.store), services.clock)

"""The register's and the auth services' collections on MongoDB (DESIGN §8), one atomic document write each.

``oauth_client`` (systems, ``_id`` = client id, updates conditional on ``version``), ``oauth_jti`` (the replay cache:
``_id`` = issuer and jti, so a second insert fails with a duplicate key; a TTL index and a purge on insert drop
expired entries), ``rate_window`` (``$inc`` upserts per key and window, TTL-purged) and ``node_key`` (the node's
signing keys as private JWKs: protect the database like the keys).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.auth.ports import KeyStatus, NodeKey
from mais_node.errors import Unavailable, VersionConflict
from mais_node.register.model import Client
from mais_node.storage.mongo_follow_ups import MongoFollowUps
from mais_node.storage.mongo_network import MongoNetworkCollections

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class MongoRegisterStore(MongoNetworkCollections, MongoFollowUps):
    """ClientStore, ReplayCache, RateCounter, NodeKeyStore and the network's collections on one MongoDB database."""

    def __init__(self, db: Database[Document]) -> None:
        self.clients: Collection[Document] = db.get_collection("oauth_client", write_concern=_DURABLE)
        self.jti: Collection[Document] = db.get_collection("oauth_jti", write_concern=_DURABLE)
        self.rates: Collection[Document] = db.get_collection("rate_window")
        self.keys: Collection[Document] = db.get_collection("node_key", write_concern=_DURABLE)
        try:
            self.clients.create_index([("org", ASCENDING), ("created", ASCENDING)])
            self.jti.create_index("expires", expireAfterSeconds=0)
            self.rates.create_index("expires", expireAfterSeconds=0)
        except PyMongoError as exc:
            raise Unavailable("The register collections cannot be prepared") from exc
        self._prepare_network(db)
        self._prepare_follow_ups(db)

    # -- clients ------------------------------------------------------------------------------------------
    def put_client(self, client: Client, *, expected_version: int) -> None:
        doc = {"_id": client.client_id, **client.document()}
        try:
            if expected_version == 0:
                self.clients.insert_one(doc)
                return
            result = self.clients.replace_one({"_id": client.client_id, "version": expected_version}, doc)
        except DuplicateKeyError as exc:
            raise VersionConflict(f"Client {client.client_id} already exists") from exc
        except PyMongoError as exc:
            raise Unavailable("The register could not be written") from exc
        if result.matched_count != 1:
            raise VersionConflict(f"Client {client.client_id} was changed concurrently; retry")

    def get_client(self, client_id: str) -> Client | None:
        try:
            doc = self.clients.find_one({"_id": client_id})
        except PyMongoError as exc:
            raise Unavailable("The register cannot be read") from exc
        return None if doc is None else Client.from_document(doc)

    def list_clients(self, org_ods: str | None = None) -> list[Client]:
        query = {} if org_ods is None else {"org": org_ods}
        try:
            docs = list(self.clients.find(query).sort([("created", ASCENDING), ("_id", ASCENDING)]))
        except PyMongoError as exc:
            raise Unavailable("The register cannot be read") from exc
        return [Client.from_document(d) for d in docs]

    # -- replay cache -------------------------------------------------------------------------------------
    def first_use(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        key = f"{issuer}\x1f{jti}"
        try:
            # The TTL monitor runs once a minute; expired entries must not refuse a jti meanwhile.
            self.jti.delete_many({"expires": {"$lt": _instant(now)}})
            self.jti.insert_one({"_id": key, "expires": _instant(expires_at)})
        except DuplicateKeyError:
            return False
        except PyMongoError as exc:
            raise Unavailable("The replay cache could not be written") from exc
        return True

    # -- rate counters ------------------------------------------------------------------------------------
    def hit(self, key: str, window: int, expires_at: float, n: int = 1) -> int:
        try:
            doc = self.rates.find_one_and_update(
                {"_id": f"{key}\x1f{window}"},
                {"$inc": {"n": n}, "$setOnInsert": {"expires": _instant(expires_at)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except PyMongoError as exc:
            raise Unavailable("The rate counter could not be written") from exc
        if doc is None:
            raise Unavailable("The rate counter could not be written")
        return int(doc["n"])

    # -- node keys ----------------------------------------------------------------------------------------
    def add_node_key(self, key: NodeKey) -> None:
        doc = {
            "_id": key.kid,
            "alg": key.alg,
            "created": key.created,
            "status": key.status,
            "since": key.status_since,
            "jwk": key.jwk,
        }
        try:
            self.keys.insert_one(doc)
        except DuplicateKeyError:
            return
        except PyMongoError as exc:
            raise Unavailable("The node key could not be stored") from exc

    def node_keys(self) -> list[NodeKey]:
        try:
            docs = list(self.keys.find().sort([("created", ASCENDING), ("_id", ASCENDING)]))
        except PyMongoError as exc:
            raise Unavailable("The node keys cannot be read") from exc
        return [NodeKey(d["_id"], d["alg"], d["jwk"], d["created"], d["status"], d.get("since")) for d in docs]

    def set_node_key_status(self, kid: str, status: KeyStatus, since: str) -> None:
        try:
            self.keys.update_one({"_id": kid}, {"$set": {"status": status, "since": since}})
        except PyMongoError as exc:
            raise Unavailable("The node key could not be changed") from exc

"""The network's collections on MongoDB (DESIGN §8, §11), one atomic single-document write each, no transactions.

``national_register`` holds one document (``_id`` "applied"): the applied register's serial, content and signed
document, replaced only where the stored serial is still the one the import compared against, so an import is
all or nothing and two workers racing apply it once. ``local_suspension`` (``_id`` = reference) and
``published_register`` (one document, replaced only by a higher serial) complete it.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.errors import Unavailable, VersionConflict
from mais_node.network.ports import AppliedRegister, Published

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)
_ONE = "applied"


class MongoNetworkCollections:
    """NationalStore, LocalDecisions and PublishedRegisters on one MongoDB database."""

    def _prepare_network(self, db: Database[Document]) -> None:
        self.national_docs: Collection[Document] = db.get_collection("national_register", write_concern=_DURABLE)
        self.suspensions: Collection[Document] = db.get_collection("local_suspension", write_concern=_DURABLE)
        self.published_docs: Collection[Document] = db.get_collection("published_register", write_concern=_DURABLE)

    def national_serial(self) -> int | None:
        doc = self._find(self.national_docs, {"serial": 1})
        return None if doc is None else int(doc["serial"])

    def national(self) -> AppliedRegister | None:
        doc = self._find(self.national_docs, None)
        if doc is None:
            return None
        return AppliedRegister(int(doc["serial"]), bytes(doc["state"]), bytes(doc["document"]), str(doc["applied"]))

    def put_national(self, applied: AppliedRegister, *, expected_serial: int | None) -> None:
        doc = {
            "_id": _ONE,
            "serial": applied.serial,
            "applied": applied.applied,
            "state": applied.state,
            "document": applied.document,
        }
        try:
            if expected_serial is None:
                self.national_docs.insert_one(doc)
                return
            matched = self.national_docs.replace_one({"_id": _ONE, "serial": expected_serial}, doc).matched_count
        except DuplicateKeyError as exc:
            raise VersionConflict("Another import changed the national register first") from exc
        except PyMongoError as exc:
            raise Unavailable("The national register could not be written") from exc
        if matched != 1:
            raise VersionConflict("Another import changed the national register first")

    def local_suspensions(self) -> dict[str, str]:
        try:
            return {str(d["_id"]): str(d["since"]) for d in self.suspensions.find()}
        except PyMongoError as exc:
            raise Unavailable("The register cannot be read") from exc

    def set_local_suspension(self, reference: str, since: str | None) -> None:
        try:
            if since is None:
                self.suspensions.delete_one({"_id": reference})
            else:
                self.suspensions.update_one({"_id": reference}, {"$setOnInsert": {"since": since}}, upsert=True)
        except PyMongoError as exc:
            raise Unavailable("The register could not be written") from exc

    def put_published(self, published: Published) -> None:
        doc = {"_id": _ONE, "serial": published.serial, "etag": published.etag, "document": published.document}
        try:
            # Matches only a lower serial; where a higher one is stored the upsert's insert hits the unique _id.
            self.published_docs.replace_one({"_id": _ONE, "serial": {"$lt": published.serial}}, doc, upsert=True)
        except DuplicateKeyError as exc:
            raise VersionConflict(f"Serial {published.serial} is not above the last published serial") from exc
        except PyMongoError as exc:
            raise Unavailable("The published register could not be written") from exc

    def published_serial(self) -> int | None:
        doc = self._find(self.published_docs, {"serial": 1})
        return None if doc is None else int(doc["serial"])

    def published(self) -> Published | None:
        doc = self._find(self.published_docs, None)
        return None if doc is None else Published(int(doc["serial"]), str(doc["etag"]), bytes(doc["document"]))

    def _find(self, collection: Collection[Document], projection: Document | None) -> Document | None:
        try:
            return collection.find_one({"_id": _ONE}, projection)
        except PyMongoError as exc:
            raise Unavailable("The register cannot be read") from exc

"""The network's collections on MongoDB (DESIGN §8, §11), one atomic single-document write each, no transactions.

``national_register`` holds one pointer document (``_id`` "applied"): the applied register's serial, header, the
digest of its signed document and its manifest (each entry's reference and the SHA-256 of its state), replaced only
where the stored serial is still the one the import compared against. The states are in ``national_entry`` by that
hash, written before the pointer names them and never changed, so an import writes only the entries that changed,
is all or nothing, and two workers racing apply it once (a loser's entries are named by no pointer). A pointer of
the earlier form (the whole register in one document) is read as it is, and converted by the next import.
``local_suspension`` (``_id`` = reference) and ``published_register`` (one document, replaced only by a higher
serial) complete it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.errors import Unavailable, VersionConflict
from mais_node.network.model import split_state
from mais_node.network.ports import AppliedRegister, Published, RegisterChanges

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)
_ONE = "applied"
_DUPLICATE = 11000


class MongoNetworkCollections:
    """NationalStore, LocalDecisions and PublishedRegisters on one MongoDB database."""

    def _prepare_network(self, db: Database[Document]) -> None:
        self.national_docs: Collection[Document] = db.get_collection("national_register", write_concern=_DURABLE)
        self.entry_docs: Collection[Document] = db.get_collection("national_entry", write_concern=_DURABLE)
        self.suspensions: Collection[Document] = db.get_collection("local_suspension", write_concern=_DURABLE)
        self.published_docs: Collection[Document] = db.get_collection("published_register", write_concern=_DURABLE)

    def national_serial(self) -> int | None:
        doc = self._find(self.national_docs, {"serial": 1})
        return None if doc is None else int(doc["serial"])

    def national(self) -> AppliedRegister | None:
        doc = self._find(self.national_docs, None)
        if doc is None:
            return None
        if "state" in doc:  # the earlier form: the whole register in the pointer
            header, entries = split_state(bytes(doc["state"]))
            digest = hashlib.sha256(bytes(doc["document"])).hexdigest()
            return AppliedRegister(int(doc["serial"]), header, entries, digest, str(doc["applied"]))
        manifest: list[list[str]] = doc["manifest"]
        hashes = list({h for _, h in manifest})
        try:
            states = {d["_id"]: bytes(d["state"]) for d in self.entry_docs.find({"_id": {"$in": hashes}})}
        except PyMongoError as exc:
            raise Unavailable("The register cannot be read") from exc
        if len(states) != len(hashes):
            raise Unavailable("The national register's entries are incomplete")
        entries = {ref: states[h] for ref, h in manifest}
        return AppliedRegister(
            int(doc["serial"]), bytes(doc["header"]), entries, str(doc["digest"]), str(doc["applied"])
        )

    def put_national(self, changes: RegisterChanges, *, expected_serial: int | None) -> None:
        try:
            manifest = self._manifest(expected_serial)
            if manifest is None:
                raise VersionConflict("Another import changed the national register first")
            fresh: dict[str, bytes] = {}
            for ref, state in changes.entries.items():
                if state is None:
                    manifest.pop(ref, None)
                    continue
                digest = hashlib.sha256(state).hexdigest()
                manifest[ref] = digest
                fresh[digest] = state
            self._put_entries(fresh)
            doc = {
                "_id": _ONE,
                "serial": changes.serial,
                "applied": changes.applied,
                "header": changes.header,
                "digest": changes.digest,
                "manifest": [[ref, h] for ref, h in manifest.items()],
            }
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

    def _manifest(self, expected_serial: int | None) -> dict[str, str] | None:
        """The entries of the stored serial by reference → hash, or None when it is not ``expected_serial``."""
        if expected_serial is None:
            return {}
        doc = self._find(self.national_docs, {"serial": 1, "manifest": 1})
        if doc is None or int(doc["serial"]) != expected_serial:
            return None
        if "manifest" in doc:
            return dict(doc["manifest"])
        stored = self.national()  # the earlier form: its entries are written by hash before a pointer names them
        assert stored is not None
        self._put_entries({hashlib.sha256(s).hexdigest(): s for s in stored.entries.values()})
        return {ref: hashlib.sha256(s).hexdigest() for ref, s in stored.entries.items()}

    def _put_entries(self, states: dict[str, bytes]) -> None:
        """Each state by its hash; one already there is the same state (content-addressed), so it is left."""
        if not states:
            return
        try:
            self.entry_docs.insert_many([{"_id": h, "state": s} for h, s in states.items()], ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != _DUPLICATE for e in exc.details.get("writeErrors", [])):
                raise

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

"""The person index on MongoDB (issue 17): one document per Patient in ``person_index``, keys in a multikey index.

``_id`` is the Patient's id; ``vid`` the version it was made from; ``k`` the filing keys (multikey index ``k``),
and the compact row's fields. Each Patient write rolls its document forward after the resource's version document
(the durable step), guarded by ``vid`` like the ``resource`` document, so a slower writer of an older version never
overwrites a newer one; a deleted Patient leaves a tombstone with no keys, so that a late roll-forward of an older
version cannot bring it back. A crash between the two writes is repaired by the next writer of that Patient (the
store's ``_repair``) and, for the whole collection, by ``rebuild``.

A database written before the index existed (Patients, no ``person-index`` mark) is indexed once by ``ensure``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
from pymongo import ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.errors import Unavailable
from mais_node.matching.blocking import VERSION, Lookup
from mais_node.matching.rows import PersonEntry, PersonRow, person_entry

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)
MARK = "person-index"
_ROW = {"nhs": 1, "birth": 1, "postcode": 1, "flags": 1, "names": 1}


def collection(db: Database[Document]) -> Collection[Document]:
    return db.get_collection("person_index", write_concern=_DURABLE)


def person_doc(person_id: str, version: int, entry: PersonEntry | None) -> Document:
    """One Patient's document at ``version`` (``entry`` None: deleted, a tombstone without keys)."""
    doc: Document = {"_id": person_id, "vid": version, "k": []}
    if entry is not None:
        row = entry.row
        doc.update(k=list(entry.keys), nhs=row.nhs, birth=row.birth, postcode=row.postcode)
        doc.update(flags=row.flags, names=row.names)
    return doc


def person_replace(doc: Document) -> ReplaceOne[Document]:
    """The roll-forward of ``person_doc`` as one operation of a bulk write (a batch's); a newer version there
    wins: the upsert's duplicate key, which the batch ignores as the resource documents' does."""
    return ReplaceOne({"_id": doc["_id"], "vid": {"$lt": doc["vid"]}}, doc, upsert=True)


def write_person(persons: Collection[Document], doc: Document) -> None:
    """Roll one Patient's document forward to ``doc``; a newer version already there wins."""
    with contextlib.suppress(DuplicateKeyError):
        persons.replace_one({"_id": doc["_id"], "vid": {"$lt": doc["vid"]}}, doc, upsert=True)


def _row(doc: Mapping[str, Any]) -> PersonRow:
    return PersonRow(doc["_id"], doc["nhs"], doc["birth"], doc["postcode"], doc["flags"], doc["names"])


class MongoPersonRows:
    """``PersonRows`` on MongoDB."""

    def __init__(self, db: Database[Document]) -> None:
        self.db = db
        self.persons = collection(db)
        try:
            self.persons.create_index([("k", 1)])
        except PyMongoError as exc:
            raise Unavailable("The person index cannot be prepared") from exc

    def block(self, lookup: Lookup) -> list[PersonRow]:
        clauses: list[Document] = []
        if lookup.keys:
            clauses.append({"k": {"$in": list(lookup.keys)}})
        clauses.extend({"k": {"$elemMatch": {"$gte": low, "$lte": high}}} for low, high in lookup.ranges)
        if not clauses:
            return []
        try:
            docs = list(self.persons.find(clauses[0] if len(clauses) == 1 else {"$or": clauses}, _ROW))
        except PyMongoError as exc:
            raise Unavailable("The person index cannot be read") from exc
        return [_row(doc) for doc in docs]

    def ensure(self) -> int:
        meta = self.db.get_collection("store_meta", write_concern=_DURABLE)
        try:
            marker = meta.find_one({"_id": MARK})
            if marker is not None and marker.get("v") == VERSION:
                return 0
            return self._build(meta)
        except PyMongoError as exc:
            raise Unavailable("The person index cannot be built") from exc

    def rebuild(self) -> int:
        """Make every document again from the stored Patients; the number of people indexed."""
        try:
            self.persons.delete_many({})
            return self._build(self.db.get_collection("store_meta", write_concern=_DURABLE))
        except PyMongoError as exc:
            raise Unavailable("The person index cannot be built") from exc

    def _build(self, meta: Collection[Document]) -> int:
        resources = self.db.get_collection("resource")
        built = 0
        for doc in resources.find({"t": "Patient", "del": False}, {"id": 1, "vid": 1, "json": 1}):
            body = {**orjson.loads(doc["json"]), "id": doc["id"]}
            write_person(self.persons, person_doc(doc["id"], doc["vid"], person_entry(body)))
            built += 1
        meta.replace_one({"_id": MARK}, {"v": VERSION}, upsert=True)
        return built

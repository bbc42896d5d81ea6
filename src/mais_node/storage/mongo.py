"""The MongoDB store, through pymongo (DESIGN §8).

Collections: ``resource`` (current version of each resource, with its searchable values ``ix`` and sort keys
``sk``) and ``resource_version`` (every version). The durable step of a write is ONE atomic insert of the version
document, whose ``_id`` (type/id/version) is unique: a concurrent writer of the same version loses with a duplicate
key, which becomes a VersionConflict. The current document is then rolled forward (and a Patient's person-index
document, ``mongo_person_index.py``); a crash in between is repaired by the next writer. No multi-document
transaction is needed, so mongomock can test the same code.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.errors import InvalidRequest, Unavailable, VersionConflict
from mais_node.fhir.search.extract import index_entries
from mais_node.fhir.search.params import params_for, sortable
from mais_node.fhir.search.query import (
    Criterion,
    DateValue,
    IndexRow,
    Query,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from mais_node.fhir.search.text import MAX_CHAR
from mais_node.fhir.search.text import VERSION as NORMALISATION
from mais_node.matching.rows import person_entry
from mais_node.storage import mongo_person_index
from mais_node.storage.keyset import check_version, keyset, stamp
from mais_node.storage.port import PERSON_TYPE, Change, Page, Staging, Stored

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)


def connect(url: str, *, timeout_ms: int = 5000) -> Database[Document]:
    """Open the database named in the URL path (default ``mais``), writes acknowledged by a majority, journalled."""
    client: pymongo.MongoClient[Document] = pymongo.MongoClient(url, serverSelectionTimeoutMS=timeout_ms)
    name = urlparse(url).path.lstrip("/") or "mais"
    return client.get_database(name, write_concern=_DURABLE)


def _stored(doc: Mapping[str, Any]) -> Stored:
    return Stored(doc["t"], doc["id"], doc["vid"], doc["lu"], doc["del"], bytes(doc["json"]))


def _index_doc(entry: IndexRow) -> Document:
    param, *values = entry
    doc: Document = {"p": param}
    for name, value in zip(("v", "s", "x", "lo", "hi"), values, strict=True):
        if value is not None:
            doc[name] = value
    return doc


def _sort_keys(resource_type: str, index: list[Document]) -> Document:
    keys: Document = {p.name: "" for p in params_for(resource_type).values() if sortable(p)}
    for entry in index:
        value = entry.get("v", entry.get("lo", ""))
        if entry["p"] in keys and (keys[entry["p"]] == "" or value < keys[entry["p"]]):
            keys[entry["p"]] = value
    return keys


class MongoResourceStore:
    """The ``ResourceStore`` port on MongoDB."""

    def __init__(self, db: Database[Document]) -> None:
        self.db = db
        self.current: Collection[Document] = db.get_collection("resource", write_concern=_DURABLE)
        self.versions: Collection[Document] = db.get_collection("resource_version", write_concern=_DURABLE)
        self.persons = mongo_person_index.collection(db)
        self._ensure_indexes()
        self._renormalise()

    def _renormalise(self) -> None:
        """Make the string index values again when another version of the search normalisation made them
        (fhir/search/text.py): each resource's index is extracted again from its body, one atomic write per
        resource that only lands if the resource has not moved meanwhile; then the version is recorded."""
        meta = self.db.get_collection("store_meta", write_concern=_DURABLE)
        try:
            marker = meta.find_one({"_id": "string-normalisation"})
            if marker is not None and marker.get("v") == NORMALISATION:
                return
            for doc in self.current.find({"del": False, "ix.x": {"$exists": True}}, {"t": 1, "vid": 1, "json": 1}):
                index = [_index_doc(e) for e in index_entries(_stored({**doc, "id": "", "lu": "", "del": False}).body)]
                self.current.update_one(
                    {"_id": doc["_id"], "vid": doc["vid"]},
                    {"$set": {"ix": index, "sk": _sort_keys(doc["t"], index)}},
                )
            meta.replace_one({"_id": "string-normalisation"}, {"v": NORMALISATION}, upsert=True)
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be prepared") from exc

    def _ensure_indexes(self) -> None:
        try:
            self.current.create_index([("t", 1), ("ix.p", 1), ("ix.v", 1), ("ix.s", 1)])
            self.current.create_index([("t", 1), ("ix.p", 1), ("ix.lo", 1), ("ix.hi", 1)])
            self.current.create_index([("t", 1), ("id", 1)])
            self.current.create_index([("t", 1), ("lu", 1)])
            self.versions.create_index([("t", 1), ("id", 1), ("vid", -1)])
            self.versions.create_index([("lu", -1), ("_id", -1)])
            self.versions.create_index([("t", 1), ("lu", -1), ("_id", -1)])
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be prepared") from exc

    def write(self, change: Change) -> Stored:
        try:
            return self._write(change)
        except PyMongoError as exc:
            raise Unavailable("The resource store could not be written") from exc

    def _write(self, change: Change) -> Stored:
        key = f"{change.resource_type}/{change.id}"
        current = self.current.find_one({"_id": key}, {"vid": 1, "del": 1})
        check_version(change, None if current is None else (current["vid"], current["del"]))
        version = 1 if current is None else current["vid"] + 1
        deleted = change.operation == "delete"
        payload = b"" if deleted or change.body is None else stamp(change.body, version, change.last_updated)
        doc: Document = {
            "t": change.resource_type,
            "id": change.id,
            "vid": version,
            "lu": change.last_updated,
            "del": deleted,
            "json": payload,
        }
        try:
            self.versions.insert_one({"_id": f"{key}/{version}", **doc})
        except DuplicateKeyError as exc:
            self._repair(key)
            raise VersionConflict(f"{key} was changed by another request; retry") from exc
        self._roll_forward(key, doc, [] if deleted else [_index_doc(e) for e in change.index])
        if change.resource_type == PERSON_TYPE:
            entry = None if deleted else change.person
            mongo_person_index.write_person(self.persons, mongo_person_index.person_doc(change.id, version, entry))
        return _stored(doc)

    def write_many(self, changes: Sequence[Change], *, mark: tuple[str, str | None] | None = None) -> list[Stored]:
        try:
            written = self._write_many(changes) if changes else []
            meta = self.db.get_collection("store_meta", write_concern=_DURABLE)
            if mark is not None and mark[1] is None:
                meta.delete_one({"_id": mark[0]})
            elif mark is not None:
                meta.replace_one({"_id": mark[0]}, {"v": mark[1]}, upsert=True)
        except PyMongoError as exc:
            raise Unavailable("The resource store could not be written") from exc
        return written

    def _write_many(self, changes: Sequence[Change]) -> list[Stored]:
        """The versions of the batch in one ordered insert, then the current documents in one bulk write."""
        keys = list(dict.fromkeys(f"{c.resource_type}/{c.id}" for c in changes))
        found = self.current.find({"_id": {"$in": keys}}, {"vid": 1, "del": 1})
        held: dict[str, tuple[int, bool]] = {d["_id"]: (d["vid"], d["del"]) for d in found}
        first = dict(held)
        docs: list[Document] = []
        latest: dict[str, tuple[Document, list[Document]]] = {}
        people: dict[str, Document] = {}
        for change in changes:
            key = f"{change.resource_type}/{change.id}"
            current = held.get(key)
            check_version(change, current)
            version = 1 if current is None else current[0] + 1
            deleted = change.operation == "delete"
            payload = b"" if deleted or change.body is None else stamp(change.body, version, change.last_updated)
            doc: Document = {"t": change.resource_type, "id": change.id, "vid": version,
                             "lu": change.last_updated, "del": deleted, "json": payload}  # fmt: skip
            held[key] = (version, deleted)
            docs.append(doc)
            latest[key] = (doc, [] if deleted else [_index_doc(e) for e in change.index])
            if change.resource_type == PERSON_TYPE:
                people[key] = mongo_person_index.person_doc(change.id, version, None if deleted else change.person)
        try:
            self.versions.insert_many([{"_id": f"{d['t']}/{d['id']}/{d['vid']}", **d} for d in docs], ordered=True)
        except BulkWriteError as exc:
            for key in latest:
                self._repair(key)
            raise VersionConflict("A resource of the batch was changed by another request; retry") from exc
        # New resources (most of a first import) in one insert; those already held rolled forward one by one, as a
        # single write does (mongomock's bulk_write cannot take pymongo's ReplaceOne, so both paths stay testable).
        fresh = [key for key in latest if first.get(key) is None]
        if fresh:
            documents = [self._current_doc(key, *latest[key]) for key in fresh]
            try:
                self.current.insert_many(documents, ordered=False)
            except BulkWriteError as exc:  # created meanwhile by another writer: roll forward as below
                failed = {error.get("index") for error in exc.details.get("writeErrors", [])}
                for i in failed:
                    self._roll_forward(fresh[int(i or 0)], *latest[fresh[int(i or 0)]])
        for key, (doc, index) in latest.items():
            if first.get(key) is not None:
                self._roll_forward(key, doc, index)
        self._write_people(people, fresh={key for key in fresh if key in people})
        return [_stored(doc) for doc in docs]

    def _write_people(self, people: dict[str, Document], *, fresh: set[str]) -> None:
        """The batch's Patients' person-index documents: the new ones in one insert, the rest rolled forward."""
        new = [people[key] for key in people if key in fresh]
        if new:
            try:
                self.persons.insert_many(new, ordered=False)
            except BulkWriteError as exc:  # indexed meanwhile (a repair, another writer): roll forward as below
                for error in exc.details.get("writeErrors", []):
                    mongo_person_index.write_person(self.persons, new[int(error.get("index") or 0)])
        for key, doc in people.items():
            if key not in fresh:
                mongo_person_index.write_person(self.persons, doc)

    def bulk_load(self) -> contextlib.AbstractContextManager[Staging | None]:
        """Nothing deferred, nothing staged: MongoDB keeps its indexes at every write (its bulk writes are the
        batch's speed)."""
        return contextlib.nullcontext()

    def read_mark(self, key: str) -> str | None:
        try:
            doc = self.db.get_collection("store_meta").find_one({"_id": key})
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be read") from exc
        return None if doc is None else str(doc["v"])

    def _current_doc(self, key: str, doc: Document, index: list[Document]) -> Document:
        return {"_id": key, **doc, "ix": index, "sk": _sort_keys(doc["t"], index)}

    def _roll_forward(self, key: str, doc: Document, index: list[Document]) -> None:
        current = {**doc, "ix": index, "sk": _sort_keys(doc["t"], index)}
        with contextlib.suppress(DuplicateKeyError):  # a newer version is already current
            self.current.replace_one({"_id": key, "vid": {"$lt": doc["vid"]}}, {"_id": key, **current}, upsert=True)

    def _repair(self, key: str) -> None:
        """Roll the current document forward to the newest version (after a crash between the two writes)."""
        rtype, _, id_ = key.partition("/")
        latest = self.versions.find_one({"t": rtype, "id": id_}, sort=[("vid", -1)])
        if latest is None:
            return
        stored = _stored(latest)
        index = [] if stored.deleted else [_index_doc(e) for e in index_entries(stored.body)]
        doc = {k: latest[k] for k in ("t", "id", "vid", "lu", "del", "json")}
        self._roll_forward(key, doc, index)
        if rtype == PERSON_TYPE:
            entry = None if stored.deleted else person_entry({**stored.body, "id": id_})
            mongo_person_index.write_person(self.persons, mongo_person_index.person_doc(id_, stored.version, entry))

    def read(self, resource_type: str, id: str, version: int | None = None) -> Stored | None:
        try:
            if version is None:
                doc = self.current.find_one({"_id": f"{resource_type}/{id}"}, {"ix": 0, "sk": 0})
            else:
                doc = self.versions.find_one({"_id": f"{resource_type}/{id}/{version}"})
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be read") from exc
        return None if doc is None else _stored(doc)

    def history(
        self,
        resource_type: str | None,
        id: str | None,
        count: int,
        after: tuple[str, ...] | None,
        *,
        since: str | None = None,
    ) -> Page:
        flt: Document = {}
        if since is not None:
            flt["lu"] = {"$gte": since}
        if resource_type is not None:
            flt["t"] = resource_type
        if id is not None:
            flt["id"] = id
        if after:
            lu, last_id = after[0], after[1]
            flt["$or"] = [{"lu": {"$lt": lu}}, {"lu": lu, "_id": {"$lt": last_id}}]
        try:
            docs = list(self.versions.find(flt).sort([("lu", -1), ("_id", -1)]).limit(count + 1))
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be read") from exc
        more = len(docs) > count
        docs = docs[:count]
        return Page([_stored(d) for d in docs], (docs[-1]["lu"], docs[-1]["_id"]) if more and docs else None)

    def latest_change(self, *resource_types: str) -> str:
        # Versions are only ever added (a delete adds a tombstone), so their count moves with every write; the
        # newest by time would not: two writes may share a lastUpdated.
        try:
            count = self.versions.count_documents({"t": {"$in": list(resource_types)}})
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be read") from exc
        return str(count) if count else ""

    def search(self, query: Query) -> Page:
        flt = _filter(query)
        try:
            total = self.current.count_documents(flt) if query.total else None
            if query.count == 0:
                return Page([], None, total)
            fields = [_sort_field(k.param) for k in query.sort]
            if query.after is not None:
                flt = {"$and": [flt, _after(query, fields)]}
            cursor = self.current.find(flt, {"ix": 0}).sort(
                [(f, -1 if k.descending else 1) for f, k in zip(fields, query.sort, strict=True)]
            )
            docs = list(cursor.limit(query.count + 1))
        except PyMongoError as exc:
            raise Unavailable("The resource store cannot be searched") from exc
        more = len(docs) > query.count
        docs = docs[: query.count]
        after = tuple(str(_get(docs[-1], f)) for f in fields) if more and docs else None
        return Page([_stored(d) for d in docs], after, total)

    def ping(self) -> None:
        try:
            self.db.command("ping")
        except PyMongoError as exc:
            raise Unavailable("The resource store is unreachable") from exc


def _get(doc: Mapping[str, Any], field: str) -> Any:
    node: Any = doc
    for part in field.split("."):
        node = node.get(part, "") if isinstance(node, Mapping) else ""
    return node


def _sort_field(param: str) -> str:
    return {"_id": "id", "_lastUpdated": "lu"}.get(param, f"sk.{param}")


def _after(query: Query, fields: list[str]) -> Document:
    after = query.after or ()
    if len(after) != len(fields):
        raise InvalidRequest("_cursor does not belong to this search", expression=("_cursor",))
    branches: Document = keyset(
        query.sort,
        after,
        lambda i, desc: {fields[i]: {"$lt" if desc else "$gt": after[i]}},
        lambda i: {fields[i]: after[i]},
        lambda xs: {"$and": xs},
        lambda xs: {"$or": xs},
    )
    # The leading key's own range lets the server seek in an index on it instead of filtering from the start.
    lead = {fields[0]: {"$lte" if query.sort[0].descending else "$gte": after[0]}}
    return {"$and": [lead, branches]}


def _value_doc(value: Value) -> Document:
    if isinstance(value, StringValue):
        if value.match == "exact":
            return {"x": value.text}
        if value.match == "contains":
            return {"v": {"$regex": re.escape(value.text)}}
        return {"v": {"$gte": value.text, "$lt": value.text + MAX_CHAR}}
    if isinstance(value, TokenValue):
        doc: Document = {}
        if value.code is not None:
            doc["v"] = value.code
        if value.system is not None:
            doc["s"] = value.system
        return doc
    if isinstance(value, ReferenceValue):
        if "/" in value.reference:
            return {"v": value.reference}
        return {"v": {"$regex": "/" + re.escape(value.reference) + "$"}}
    if isinstance(value, UriValue):
        return {"v": value.uri}
    return _date_doc(value)


def _date_doc(value: DateValue) -> Document:
    lo, hi = value.lo, value.hi
    table: dict[str, Document] = {
        "eq": {"lo": {"$gte": lo}, "hi": {"$lte": hi}},
        "gt": {"hi": {"$gt": hi}},
        "lt": {"lo": {"$lt": lo}},
        "ge": {"hi": {"$gt": lo}},
        "le": {"lo": {"$lt": hi}},
        "sa": {"lo": {"$gte": hi}},
        "eb": {"hi": {"$lte": lo}},
        "ap": {"lo": {"$lt": hi}, "hi": {"$gt": lo}},
    }
    if value.prefix == "ne":
        return {"$or": [{"lo": {"$lt": lo}}, {"hi": {"$gt": hi}}]}
    return table[value.prefix]


def _criterion_doc(criterion: Criterion) -> Document:
    if criterion.missing is not None:
        return {"ix.p": {"$ne": criterion.param}} if criterion.missing else {"ix.p": criterion.param}
    matches = [{"ix": {"$elemMatch": {"p": criterion.param, **_value_doc(v)}}} for v in criterion.values]
    if criterion.negate:
        return {"$nor": matches}
    return matches[0] if len(matches) == 1 else {"$or": matches}


def _filter(query: Query) -> Document:
    clauses: list[Document] = [{"t": query.resource_type, "del": False}]
    clauses.extend(_criterion_doc(c) for c in query.criteria)
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}

"""The console's accounts and sessions on MongoDB (DESIGN §8, §12), one atomic document write each.

``console_person`` (``_id`` = account name, updates conditional on ``version``) and ``console_session`` (``_id`` =
the hash of the session token; a TTL index on the absolute expiry drops old sessions).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.console.people import Person, Session
from mais_node.errors import Unavailable, VersionConflict

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)


class MongoPeopleStore:
    """AccountStore and SessionStore on one MongoDB database."""

    def __init__(self, db: Database[Document]) -> None:
        self.people: Collection[Document] = db.get_collection("console_person", write_concern=_DURABLE)
        self.sessions: Collection[Document] = db.get_collection("console_session", write_concern=_DURABLE)
        try:
            self.sessions.create_index("expires_at", expireAfterSeconds=0)
        except PyMongoError as exc:
            raise Unavailable("The console's collections cannot be prepared") from exc

    def put_person(self, person: Person, *, expected_version: int) -> None:
        doc = {"_id": person.name, **person.document()}
        try:
            if expected_version == 0:
                self.people.insert_one(doc)
                return
            result = self.people.replace_one({"_id": person.name, "version": expected_version}, doc)
        except DuplicateKeyError as exc:
            raise VersionConflict(f"The account {person.name} already exists") from exc
        except PyMongoError as exc:
            raise Unavailable("The account could not be written") from exc
        if result.matched_count != 1:
            raise VersionConflict(f"The account {person.name} was changed concurrently; retry")

    def get_person(self, name: str) -> Person | None:
        try:
            doc = self.people.find_one({"_id": name})
        except PyMongoError as exc:
            raise Unavailable("The console's accounts cannot be read") from exc
        return None if doc is None else Person.from_document(doc)

    def list_people(self) -> list[Person]:
        try:
            docs = list(self.people.find({}).sort([("_id", ASCENDING)]))
        except PyMongoError as exc:
            raise Unavailable("The console's accounts cannot be read") from exc
        return [Person.from_document(d) for d in docs]

    def put_session(self, session: Session) -> None:
        doc = {"_id": session.key, **session.document(), "expires_at": datetime.fromtimestamp(session.expires, UTC)}
        try:
            self.sessions.delete_many({"expires": {"$lt": session.last_seen}})
            self.sessions.replace_one({"_id": session.key}, doc, upsert=True)
        except PyMongoError as exc:
            raise Unavailable("The session could not be written") from exc

    def get_session(self, key: str) -> Session | None:
        try:
            doc = self.sessions.find_one({"_id": key})
        except PyMongoError as exc:
            raise Unavailable("The session cannot be read") from exc
        return None if doc is None else Session.from_document(doc)

    def delete_session(self, key: str) -> None:
        try:
            self.sessions.delete_one({"_id": key})
        except PyMongoError as exc:
            raise Unavailable("The session could not be removed") from exc

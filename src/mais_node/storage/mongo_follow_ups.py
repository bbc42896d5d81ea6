"""The single view's follow-ups on MongoDB (DESIGN §8, §11): collection ``single_view_follow_up``, one document per
view still followed (``_id`` = the view's id). Each claim is one ``find_one_and_update`` conditional on the lease
being free, so two workers never hold the same view; renew, release and end match only the lease's holder.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from mais_node.errors import Unavailable
from mais_node.network.ports import FollowUp

Document = dict[str, Any]
_DURABLE = WriteConcern(w="majority", j=True)


class MongoFollowUps:
    """FollowUps on one MongoDB database."""

    def _prepare_follow_ups(self, db: Database[Document]) -> None:
        self.follow_up_docs: Collection[Document] = db.get_collection("single_view_follow_up", write_concern=_DURABLE)
        try:
            self.follow_up_docs.create_index([("due", ASCENDING)])
        except PyMongoError as exc:
            raise Unavailable("The single view's follow-ups cannot be prepared") from exc

    def add_follow_up(self, follow_up: FollowUp) -> None:
        f = follow_up
        doc = {"state": f.state, "due": f.due, "until": f.until, "holder": f.holder, "lease_until": f.lease_until}
        try:
            self.follow_up_docs.replace_one({"_id": f.view_id}, doc, upsert=True)
        except PyMongoError as exc:
            raise Unavailable("The single view's follow-ups could not be written") from exc

    def claim_follow_ups(self, holder: str, *, now: float, lease_until: float, limit: int) -> list[FollowUp]:
        free = {"due": {"$lte": now}, "$or": [{"holder": None}, {"lease_until": {"$lte": now}}]}
        claimed = []
        try:
            for _ in range(limit):
                doc = self.follow_up_docs.find_one_and_update(
                    free,
                    {"$set": {"holder": holder, "lease_until": lease_until}},
                    sort=[("due", ASCENDING)],
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    break
                claimed.append(
                    FollowUp(
                        str(doc["_id"]),
                        bytes(doc["state"]),
                        float(doc["due"]),
                        float(doc["until"]),
                        holder,
                        lease_until,
                    )
                )
        except PyMongoError as exc:
            raise Unavailable("The single view's follow-ups cannot be read") from exc
        return claimed

    def renew_follow_up(self, view_id: str, holder: str, *, lease_until: float) -> bool:
        return self._update(view_id, holder, {"$set": {"lease_until": lease_until}})

    def release_follow_up(self, view_id: str, holder: str, *, state: bytes, due: float) -> bool:
        return self._update(view_id, holder, {"$set": {"state": state, "due": due, "holder": None, "lease_until": 0.0}})

    def end_follow_up(self, view_id: str, holder: str) -> bool:
        try:
            return self.follow_up_docs.delete_one({"_id": view_id, "holder": holder}).deleted_count == 1
        except PyMongoError as exc:
            raise Unavailable("The single view's follow-ups could not be written") from exc

    def _update(self, view_id: str, holder: str, change: Document) -> bool:
        try:
            return self.follow_up_docs.update_one({"_id": view_id, "holder": holder}, change).matched_count == 1
        except PyMongoError as exc:
            raise Unavailable("The single view's follow-ups could not be written") from exc

"""Orders: optimistic locking on `version`; history appended by the same server-side write."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.storage.errors import guard_failed
from app.storage.mongo.codec import (
    Document,
    encode_time,
    order_document,
    order_from_document,
)
from app.storage.mongo.db import MongoDatabase, find_all, find_one, insert
from app.storage.mongo.translate import translated_errors
from app.storage.records import Order, OrderStatus


class MongoOrderRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._orders = db.orders  # majority write concern (see db.py)

    async def add(self, order: Order) -> None:
        await insert(self._orders, order_document(order))

    async def get(self, order_id: str) -> Order | None:
        return await self._get_one({"_id": order_id})

    async def get_by_hold(self, hold_id: str) -> Order | None:
        return await self._get_one({"hold_id": hold_id})

    async def get_by_payment_intent(self, payment_intent_id: str) -> Order | None:
        # `$type` repeats the partial index's filter so the planner may use that index.
        return await self._get_one(
            {"payment_intent_id": {"$eq": payment_intent_id, "$type": "string"}}
        )

    async def list_for_user(self, user_id: str, limit: int) -> list[Order]:
        if limit < 1:  # pymongo reads a limit of 0 as "no limit"
            return []
        return await self._get_many(
            {"user_id": user_id},
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
            limit=limit,
        )

    async def list_for_concert(
        self, concert_id: str, statuses: Collection[OrderStatus]
    ) -> list[Order]:
        return await self._get_many(
            {"concert_id": concert_id, "status": {"$in": [s.value for s in statuses]}},
            sort=[("created_at", ASCENDING), ("_id", ASCENDING)],
        )

    async def list_due(self, status: OrderStatus, due_before: datetime, limit: int) -> list[Order]:
        if limit < 1:
            return []
        return await self._get_many(
            {"status": status.value, "expires_at": {"$lt": encode_time(due_before)}},
            sort=[("expires_at", ASCENDING), ("_id", ASCENDING)],
            limit=limit,
        )

    async def transition(
        self,
        order_id: str,
        expected_version: int,
        to_status: OrderStatus,
        reason: str,
        at: datetime,
    ) -> Order:
        entry = {
            # "$status" is evaluated against the stored document before this stage changes
            # it: `from` is whatever status the matched version had, read by the server.
            "from": "$status",
            # $literal: a reason that starts with "$" must stay text, not become a path.
            "to": {"$literal": to_status.value},
            "reason": {"$literal": reason},
            "at": {"$literal": encode_time(at)},
        }
        # An update pipeline: status, version and history change in one atomic write.
        update = [
            {
                "$set": {
                    "status": {"$literal": to_status.value},
                    "version": {"$literal": expected_version + 1},
                    "history": {"$concatArrays": ["$history", [entry]]},
                }
            }
        ]
        return await self._guarded_update(order_id, expected_version, update)

    async def attach_payment_intent(
        self, order_id: str, expected_version: int, payment_intent_id: str
    ) -> Order:
        update = {"$set": {"payment_intent_id": payment_intent_id, "version": expected_version + 1}}
        return await self._guarded_update(order_id, expected_version, update)

    async def _guarded_update(
        self, order_id: str, expected_version: int, update: Document | list[Document]
    ) -> Order:
        """Apply `update` only if the stored version is `expected_version` (the filter is
        the optimistic lock, checked by the server); the new document comes back."""
        with translated_errors():
            updated = await self._orders.find_one_and_update(
                {"_id": order_id, "version": expected_version},
                update,
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                return order_from_document(updated)
            found = await self._orders.count_documents({"_id": order_id}, limit=1)
        raise guard_failed(f"order {order_id}", expected_version, exists=bool(found))

    async def _get_one(self, query: Document) -> Order | None:
        return await find_one(self._orders, query, order_from_document)

    async def _get_many(self, query: Document, **options: Any) -> list[Order]:
        return await find_all(self._orders, query, order_from_document, **options)

"""Seat sales: the durable guarantee that no seat is sold twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.storage.backend import unique
from app.storage.claims import unowned
from app.storage.mongo.codec import Document, encode_time
from app.storage.mongo.db import MongoDatabase
from app.storage.mongo.transactions import run_in_transaction
from app.storage.mongo.translate import translated_errors


def sale_id(concert_id: str, seat_id: str) -> Document:
    """The primary key of a sale. A sub-document rather than "concert:seat": no separator
    character can make two different (concert, seat) pairs collide."""
    return {"concert_id": concert_id, "seat_id": seat_id}


class MongoSaleRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._client = db.client
        self._sales = db.seat_sales  # majority write concern (see db.py)

    async def claim(
        self, concert_id: str, seat_ids: Sequence[str], order_id: str, at: datetime
    ) -> None:
        """All or nothing, in one snapshot transaction committed with majority write concern.

        In the transaction: read the owners of the wanted seats; seats of other orders ->
        SeatsAlreadySold, and the transaction is aborted with nothing written. Seats of this
        order are a harmless re-delivery. The rest are inserted, one document per seat whose
        _id is the (concert, seat) pair.

        The server decides, not this read: if a competing claim inserted one of our seats
        after our snapshot was taken (committed or not), our insert fails with a WriteConflict
        and the whole transaction is retried; the retry's fresh snapshot sees the winner's
        seat (-> SeatsAlreadySold) or, if the winner aborted, the seat is free again. A
        DuplicateKeyError (the seat was visible after all) is treated the same way.
        """
        wanted = sorted(unique(seat_ids))
        if not wanted:
            return
        sold_at = encode_time(at)

        async def attempt(session: AsyncClientSession) -> None:
            owners = await self._owners(concert_id, wanted, session)
            missing = unowned(wanted, owners, order_id)  # SeatsAlreadySold aborts
            if missing:
                docs = [
                    {
                        "_id": sale_id(concert_id, s),
                        "concert_id": concert_id,
                        "seat_id": s,
                        "order_id": order_id,
                        "sold_at": sold_at,
                    }
                    for s in missing
                ]
                await self._sales.insert_many(docs, ordered=True, session=session)

        with translated_errors():
            await run_in_transaction(self._client, attempt, retry_on=(DuplicateKeyError,))

    async def _owners(
        self, concert_id: str, seat_ids: Sequence[str], session: AsyncClientSession
    ) -> dict[str, str]:
        found = self._sales.find(
            {"concert_id": concert_id, "seat_id": {"$in": list(seat_ids)}},
            projection={"_id": False, "seat_id": True, "order_id": True},
            session=session,
        )
        return {doc["seat_id"]: doc["order_id"] async for doc in found}

    async def release(self, order_id: str) -> int:
        with translated_errors():
            result = await self._sales.delete_many({"order_id": order_id})
        return result.deleted_count

    async def sold_seats(self, concert_id: str) -> dict[str, str]:
        with translated_errors():
            found = self._sales.find(
                {"concert_id": concert_id},
                projection={"_id": False, "seat_id": True, "order_id": True},
            )
            return {doc["seat_id"]: doc["order_id"] async for doc in found}

    async def count_sold(self, concert_ids: Iterable[str]) -> dict[str, int]:
        wanted = unique(concert_ids)
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        pipeline: list[Document] = [
            {"$match": {"concert_id": {"$in": wanted}}},
            {"$group": {"_id": "$concert_id", "sold": {"$sum": 1}}},
        ]
        with translated_errors():
            cursor = await self._sales.aggregate(pipeline)
            counts.update({doc["_id"]: doc["sold"] async for doc in cursor})
        return counts

"""Presale lottery registrations: insert-if-absent, decided by the _id, which is the
(concert, user) pair (as a seat sale's is the (concert, seat) pair)."""

from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from app.storage.codec import decode_time
from app.storage.mongo.codec import Document, encode_time
from app.storage.mongo.db import MongoDatabase, find_all, find_one
from app.storage.mongo.translate import translated_errors
from app.storage.records import LotteryRegistration


def registration_id(concert_id: str, user_id: str) -> Document:
    """A sub-document _id: its field order is fixed here, so one pair is one key."""
    return {"concert_id": concert_id, "user_id": user_id}


def _registration(doc: Document) -> LotteryRegistration:
    return LotteryRegistration(
        concert_id=doc["concert_id"],
        user_id=doc["user_id"],
        entry_id=doc["entry_id"],
        registered_at=decode_time(doc["registered_at"]),
    )


class MongoLotteryRegistrationRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._registrations = db.lottery_registrations  # majority write concern (db.py)

    async def register(self, registration: LotteryRegistration) -> bool:
        doc = {
            "_id": registration_id(registration.concert_id, registration.user_id),
            "concert_id": registration.concert_id,
            "user_id": registration.user_id,
            "entry_id": registration.entry_id,
            "registered_at": encode_time(registration.registered_at),
        }
        with translated_errors():
            try:
                # The _id index decides among concurrent registrations: one insert wins.
                await self._registrations.insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    async def get(self, concert_id: str, user_id: str) -> LotteryRegistration | None:
        query = {"_id": registration_id(concert_id, user_id)}
        return await find_one(self._registrations, query, _registration)

    async def list_for_concert(self, concert_id: str) -> list[LotteryRegistration]:
        return await find_all(self._registrations, {"concert_id": concert_id}, _registration)

    async def count(self, concert_id: str) -> int:
        with translated_errors():
            return await self._registrations.count_documents({"concert_id": concert_id})

    async def withdraw(self, concert_id: str, user_id: str) -> bool:
        with translated_errors():
            result = await self._registrations.delete_one(
                {"_id": registration_id(concert_id, user_id)}
            )
        return result.deleted_count > 0

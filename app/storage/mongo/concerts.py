"""Concerts: one document each, layout included; search is keyset-paginated."""

from __future__ import annotations

import re
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from app.storage.cursor import check_limit, decode_cursor, page_of
from app.storage.errors import guard_failed
from app.storage.mongo.codec import (
    Document,
    concert_document,
    concert_from_document,
    encode_time,
    fold,
)
from app.storage.mongo.db import MongoDatabase, find_one, insert
from app.storage.mongo.translate import translated_errors
from app.storage.records import Concert, ConcertFilter, Page

SEARCH_ORDER = [("starts_at", ASCENDING), ("_id", ASCENDING)]


class MongoConcertRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._concerts = db.concerts

    async def add(self, concert: Concert) -> None:
        await insert(self._concerts, concert_document(concert, concert.version))

    async def get(self, concert_id: str) -> Concert | None:
        return await find_one(self._concerts, {"_id": concert_id}, concert_from_document)

    async def get_version(self, concert_id: str) -> int | None:
        with translated_errors():
            doc = await self._concerts.find_one({"_id": concert_id}, {"version": 1})
        return int(doc["version"]) if doc else None

    async def update(self, concert: Concert, expected_version: int) -> Concert:
        replacement = concert_document(concert, expected_version + 1)
        with translated_errors():
            # The version in the filter is the optimistic lock, checked by the server.
            replaced = await self._concerts.find_one_and_replace(
                {"_id": concert.id, "version": expected_version},
                replacement,
                return_document=ReturnDocument.AFTER,
            )
            if replaced is not None:
                return concert_from_document(replaced)
            found = await self._concerts.count_documents({"_id": concert.id}, limit=1)
        raise guard_failed(f"concert {concert.id}", expected_version, exists=bool(found))

    async def search(self, flt: ConcertFilter, limit: int, cursor: str | None) -> Page[Concert]:
        check_limit(limit)
        conditions = filter_conditions(flt)
        if cursor is not None:
            after_starts_at, after_id = decode_cursor(cursor)
            after = encode_time(after_starts_at)
            conditions.append(
                {
                    "$or": [
                        {"starts_at": {"$gt": after}},
                        {"starts_at": after, "_id": {"$gt": after_id}},
                    ]
                }
            )
        query: Document = {"$and": conditions} if conditions else {}
        with translated_errors():
            # One document more than asked tells whether another page exists.
            found = self._concerts.find(query, sort=SEARCH_ORDER, limit=limit + 1)
            docs = await found.to_list()
        return page_of(docs, limit, concert_from_document)


def literal_pattern(text: str) -> str:
    """A regex that matches `text` as a plain substring: a '.', '%' or '(' typed by a user
    means itself. NUL is spelled as an escape because BSON regexes are C strings."""
    return re.escape(text).replace("\x00", "\\x00")


def filter_conditions(flt: ConcertFilter) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    if flt.q:
        needle = {"$regex": literal_pattern(fold(flt.q))}
        conditions.append({"$or": [{"fold.title": needle}, {"fold.artist": needle}]})
    if flt.city:
        conditions.append({"fold.city": fold(flt.city)})
    if flt.genre:
        conditions.append({"fold.genre": fold(flt.genre)})
    if flt.date_from is not None:
        conditions.append({"starts_at": {"$gte": encode_time(flt.date_from)}})
    if flt.date_to is not None:
        conditions.append({"starts_at": {"$lte": encode_time(flt.date_to)}})
    return conditions

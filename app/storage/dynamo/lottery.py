"""Presale lottery registrations: one item per (concert, user), which is its key; written
with a put conditional on the key being free, read with strongly consistent Queries."""

from __future__ import annotations

from contextlib import aclosing

from app.storage.dynamo.client import (
    Item,
    Refused,
    TableRepository,
    key_query,
    query_items,
    query_pages,
    translated_errors,
)
from app.storage.dynamo.codec import get_s, get_ts, s, ts
from app.storage.dynamo.tables import LOTTERY_REGISTRATIONS
from app.storage.records import LotteryRegistration


def _registration(item: Item) -> LotteryRegistration:
    return LotteryRegistration(
        concert_id=get_s(item, "concert_id"),
        user_id=get_s(item, "user_id"),
        entry_id=get_s(item, "entry_id"),
        registered_at=get_ts(item, "registered_at"),
    )


class DynamoLotteryRegistrationRepository(TableRepository):
    table_name = LOTTERY_REGISTRATIONS.name

    async def register(self, registration: LotteryRegistration) -> bool:
        item: Item = {
            "concert_id": s(registration.concert_id),
            "user_id": s(registration.user_id),
            "entry_id": s(registration.entry_id),
            "registered_at": ts(registration.registered_at),  # naive datetimes fail here
        }
        # The condition decides among concurrent registrations: one put wins.
        written = await self._db.write_if(
            lambda c: c.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(concert_id)",
            )
        )
        return not isinstance(written, Refused)

    async def get(self, concert_id: str, user_id: str) -> LotteryRegistration | None:
        key: Item = {"concert_id": s(concert_id), "user_id": s(user_id)}
        item = await self._db.get_item(self._table, key)
        return None if item is None else _registration(item)

    async def list_for_concert(self, concert_id: str) -> list[LotteryRegistration]:
        request = key_query(self._table, "concert_id = :c", {":c": s(concert_id)}, consistent=True)
        return [_registration(i) for i in await query_items(self._db, request)]

    async def count(self, concert_id: str) -> int:
        request = key_query(self._table, "concert_id = :c", {":c": s(concert_id)}, consistent=True)
        request["Select"] = "COUNT"
        total = 0
        with translated_errors():
            async with aclosing(query_pages(self._db, request)) as pages:
                async for page in pages:
                    total += page["Count"]
        return total

    async def withdraw(self, concert_id: str, user_id: str) -> bool:
        key: Item = {"concert_id": s(concert_id), "user_id": s(user_id)}
        with translated_errors():
            response = await self._db.run(
                lambda c: c.delete_item(TableName=self._table, Key=key, ReturnValues="ALL_OLD")
            )
        return bool(response.get("Attributes"))

"""Seat sales: the durable guarantee that no seat is sold twice.

One item per sold (concert, seat), keyed by both, so a concert's seats spread over every
partition of the table instead of queueing behind one. A claim is one TransactWriteItems:
all of its seats or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from app.storage.backend import unique
from app.storage.claims import MAX_CLAIM_ROUNDS, kept_racing, unowned
from app.storage.dynamo.client import (
    REASON_CONDITION,
    TRANSACTION_CANCELED,
    Item,
    Refused,
    TableRepository,
    batch_get,
    bounded_gather,
    cancellation_reasons,
    error_code,
    key_query,
    query_items,
    query_pages,
    translated_errors,
)
from app.storage.dynamo.codec import escape, get_s, s, shard, ts
from app.storage.dynamo.tables import SALE_SHARDS, SEAT_SALES
from app.storage.errors import InvalidValue, SeatsAlreadySold

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

# TransactWriteItems takes at most 100 actions, so that is the largest all-or-nothing claim.
# The API never asks for more: a hold has at most 100 seats (app.seats.schemas).
MAX_CLAIM_SEATS = 100


def _sale_key(concert_id: str, seat_id: str) -> Item:
    return {"pk": s(f"{escape(concert_id)}#{escape(seat_id)}")}


def _concert_shard(concert_id: str, shard_id: int) -> str:
    # The shard number comes last and has no '#': unambiguous whatever the concert id holds.
    return f"{concert_id}#{shard_id}"


class DynamoSaleRepository(TableRepository):
    table_name = SEAT_SALES.name

    async def claim(
        self, concert_id: str, seat_ids: Sequence[str], order_id: str, at: datetime
    ) -> None:
        """All or nothing, decided by DynamoDB: one transaction of conditional writes.

        Each seat's write succeeds if nobody owns the seat or this order already does (a
        re-delivered claim). If any seat belongs to another order, the whole transaction is
        cancelled and its cancellation reasons name exactly those seats. A transaction that
        collides with a concurrent one on the same seats is retried (Dynamo.run).
        """
        wanted = sorted(unique(seat_ids))
        if not wanted:
            return
        if len(wanted) > MAX_CLAIM_SEATS:
            raise InvalidValue(
                f"a claim of {len(wanted)} seats exceeds the {MAX_CLAIM_SEATS} seats DynamoDB "
                "can write in one transaction"
            )
        sold_at = ts(at)
        actions = [self._claim_action(concert_id, seat, order_id, sold_at) for seat in wanted]
        with translated_errors():
            for _ in range(MAX_CLAIM_ROUNDS):
                try:
                    await self._db.run(lambda c: c.transact_write_items(TransactItems=actions))
                    return
                except ClientError as error:
                    if error_code(error) != TRANSACTION_CANCELED:
                        raise
                    taken = await self._taken(error, concert_id, wanted, order_id)
                    if taken:
                        raise SeatsAlreadySold(taken) from error
            raise kept_racing()

    def _claim_action(
        self, concert_id: str, seat_id: str, order_id: str, sold_at: AttributeValueTypeDef
    ) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self._table,
                "Key": _sale_key(concert_id, seat_id),
                # if_not_exists: a re-delivered claim keeps the original sale time.
                "UpdateExpression": (
                    "SET concert_id = :c, seat_id = :s, order_id = :me,"
                    " concert_shard = :shard, sold_at = if_not_exists(sold_at, :at)"
                ),
                "ConditionExpression": "attribute_not_exists(pk) OR order_id = :me",
                "ExpressionAttributeValues": {
                    ":c": s(concert_id),
                    ":s": s(seat_id),
                    ":me": s(order_id),
                    ":shard": s(_concert_shard(concert_id, shard(seat_id, SALE_SHARDS))),
                    ":at": sold_at,
                },
            }
        }

    async def _taken(
        self, error: ClientError, concert_id: str, wanted: list[str], order_id: str
    ) -> list[str]:
        """The seats another order holds, from a cancelled claim; re-raises the cancellation
        if it was not about ownership (contention past our retries, a refused value)."""
        reasons = cancellation_reasons(error)
        if reasons:
            taken = [
                seat
                for seat, (code, _) in zip(wanted, reasons, strict=False)
                if code == REASON_CONDITION
            ]
            if taken:
                return taken
            raise error
        # A server that sends no reasons: ask who owns the seats now (SeatsAlreadySold if
        # another order does). None: the owners released them meanwhile; try again.
        unowned(wanted, await self._owners(concert_id, wanted), order_id)
        return []

    async def _owners(self, concert_id: str, seat_ids: list[str]) -> dict[str, str]:
        keys = [_sale_key(concert_id, seat) for seat in seat_ids]
        items = await batch_get(self._db, self._table, keys)
        return {get_s(i, "seat_id"): get_s(i, "order_id") for i in items}

    async def release(self, order_id: str) -> int:
        # The by_order index is eventually consistent: a claim made a moment ago may be
        # missing (see docs/dynamodb.md). Refunds come long after the claim.
        request = key_query(self._table, "order_id = :me", {":me": s(order_id)}, index="by_order")
        items = await query_items(self._db, request)
        deleted = await bounded_gather(self._delete(i["pk"]["S"], order_id) for i in items)
        return sum(deleted)

    async def _delete(self, pk: str, order_id: str) -> int:
        # Only while still ours: the index may be stale, and a seat released and sold again
        # to someone else must stay sold.
        written = await self._db.write_if(
            lambda c: c.delete_item(
                TableName=self._table,
                Key={"pk": s(pk)},
                ConditionExpression="order_id = :me",
                ExpressionAttributeValues={":me": s(order_id)},
            )
        )
        return 0 if isinstance(written, Refused) else 1

    async def sold_seats(self, concert_id: str) -> dict[str, str]:
        shards = await bounded_gather(
            query_items(self._db, self._by_concert(concert_id, k)) for k in range(SALE_SHARDS)
        )
        return {get_s(i, "seat_id"): get_s(i, "order_id") for items in shards for i in items}

    async def count_sold(self, concert_ids: Iterable[str]) -> dict[str, int]:
        wanted = unique(concert_ids)
        pairs = [(c, k) for c in wanted for k in range(SALE_SHARDS)]
        counts = await bounded_gather(self._count(c, k) for c, k in pairs)
        totals = dict.fromkeys(wanted, 0)
        for (concert_id, _), count in zip(pairs, counts, strict=True):
            totals[concert_id] += count
        return totals

    async def _count(self, concert_id: str, shard_id: int) -> int:
        total = 0
        request = self._by_concert(concert_id, shard_id)
        request["Select"] = "COUNT"
        with translated_errors():
            async with aclosing(query_pages(self._db, request)) as pages:
                async for page in pages:
                    total += page["Count"]
        return total

    def _by_concert(self, concert_id: str, shard_id: int) -> QueryInputTypeDef:
        """The sales of one shard of a concert (its by_concert index partition)."""
        shard_key = s(_concert_shard(concert_id, shard_id))
        return key_query(
            self._table, "concert_shard = :shard", {":shard": shard_key}, index="by_concert"
        )

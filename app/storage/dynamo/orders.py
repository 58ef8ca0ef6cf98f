"""Orders: optimistic locking on `version`; the hold id and payment intent id are unique
through pointer items written in the same transaction as the order."""

from __future__ import annotations

import heapq
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING

from app.storage.codec import order_fields, order_from_fields, transition_document
from app.storage.dynamo.client import (
    Item,
    Refused,
    TableRepository,
    bounded_gather,
    key_query,
    put_if_absent,
    query_items,
)
from app.storage.dynamo.codec import (
    attribute,
    get_s,
    item_of,
    n,
    reader,
    s,
    shard,
    sort_key,
    timestamp,
)
from app.storage.dynamo.tables import ORDER_SHARDS, ORDERS
from app.storage.errors import DuplicateKey, StoreError, at_version, guard_failed
from app.storage.records import Order, OrderStatus, OrderTransition

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef


def _order_key(order_id: str) -> Item:
    return {"pk": s(f"order#{order_id}")}


def _hold_key(hold_id: str) -> Item:
    return {"pk": s(f"hold#{hold_id}")}


def _intent_key(payment_intent_id: str) -> Item:
    return {"pk": s(f"intent#{payment_intent_id}")}


def _shard(order_id: str) -> str:
    # Spreads the status-keyed indexes over ORDER_SHARDS partitions (see tables.py).
    return str(shard(order_id, ORDER_SHARDS))


def _due_pk(status: OrderStatus, shard_id: str) -> str:
    return f"{status.value}#{shard_id}"


def _concert_pk(concert_id: str, status: OrderStatus, shard_id: str) -> str:
    return f"{concert_id}#{status.value}#{shard_id}"


def _order_item(order: Order) -> Item:
    return {
        **_order_key(order.id),
        # payment_intent_id is absent until attached.
        **item_of(order_fields(order)),
        # Index attributes (see tables.ORDERS); status-bearing ones change with the status.
        "created_key": s(sort_key(order.created_at, order.id)),
        "due_pk": s(_due_pk(order.status, _shard(order.id))),
        "due_key": s(sort_key(order.expires_at, order.id)),
        "concert_pk": s(_concert_pk(order.concert_id, order.status, _shard(order.id))),
    }


_order_from_item = reader(order_from_fields)


class DynamoOrderRepository(TableRepository):
    table_name = ORDERS.name

    async def add(self, order: Order) -> None:
        item = _order_item(order)
        pointers = [_hold_key(order.hold_id)]
        if order.payment_intent_id is not None:
            pointers.append(_intent_key(order.payment_intent_id))
        # The order and its uniqueness claims are written together or not at all.
        actions = [
            put_if_absent(self._table, i)
            for i in (item, *({**p, "order_id": s(order.id)} for p in pointers))
        ]
        taken = f"order {order.id} or an order for hold {order.hold_id} exists"
        await self._db.insert_together(actions, taken)

    async def get(self, order_id: str) -> Order | None:
        item = await self._db.get_item(self._table, _order_key(order_id))
        return _order_from_item(item) if item else None

    async def get_by_hold(self, hold_id: str) -> Order | None:
        return await self._via_pointer(_hold_key(hold_id))

    async def get_by_payment_intent(self, payment_intent_id: str) -> Order | None:
        order = await self._via_pointer(_intent_key(payment_intent_id))
        if order is None or order.payment_intent_id != payment_intent_id:
            return None
        return order

    async def list_for_user(self, user_id: str, limit: int) -> list[Order]:
        if limit < 1:
            return []
        items = await self._query(
            "by_user", "user_id = :p", {":p": s(user_id)}, newest_first=True, limit=limit
        )
        return [_order_from_item(i) for i in items]

    async def list_for_concert(
        self, concert_id: str, statuses: Collection[OrderStatus]
    ) -> list[Order]:
        partitions = [
            _concert_pk(concert_id, OrderStatus(status), str(k))
            for status in dict.fromkeys(statuses)
            for k in range(ORDER_SHARDS)
        ]
        results = await bounded_gather(
            self._query("by_concert", "concert_pk = :p", {":p": s(p)}) for p in partitions
        )
        # Each shard is sorted by created_key; merged, the whole is oldest first.
        merged = heapq.merge(*results, key=lambda i: get_s(i, "created_key"))
        return [_order_from_item(i) for i in merged]

    async def list_due(self, status: OrderStatus, due_before: datetime, limit: int) -> list[Order]:
        if limit < 1:
            return []
        # `<due_before>` sorts below every `<due_before>#<id>` key: expiry strictly before it.
        before = s(timestamp(due_before))
        results = await bounded_gather(
            self._query(
                "by_due",
                "due_pk = :p AND due_key < :before",
                {":p": s(_due_pk(status, str(k))), ":before": before},
                limit=limit,
            )
            for k in range(ORDER_SHARDS)
        )
        # The `limit` oldest overall are among the `limit` oldest of each shard.
        merged = heapq.merge(*results, key=lambda i: get_s(i, "due_key"))
        return [_order_from_item(i) for _, i in zip(range(limit), merged, strict=False)]

    async def transition(
        self,
        order_id: str,
        expected_version: int,
        to_status: OrderStatus,
        reason: str,
        at: datetime,
    ) -> Order:
        timestamp(at)  # a naive datetime fails here, before anything is read or written
        current = await self._current(order_id, expected_version)
        entry = attribute(
            transition_document(
                OrderTransition(
                    from_status=current.status, to_status=to_status, reason=reason, at=at
                )
            )
        )
        # from_status was read above; the condition on version AND status makes sure the
        # order is still the one read, so the history entry is true.
        written = await self._db.write_if(
            lambda c: c.update_item(
                TableName=self._table,
                Key=_order_key(order_id),
                UpdateExpression=(
                    "SET #status = :to, version = :next,"
                    " history = list_append(history, :entry),"
                    " due_pk = :due_pk, concert_pk = :concert_pk"
                ),
                ConditionExpression="version = :expected AND #status = :from",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":to": s(to_status.value),
                    ":from": s(current.status.value),
                    ":expected": n(expected_version),
                    ":next": n(expected_version + 1),
                    ":entry": {"L": [entry]},
                    ":due_pk": s(_due_pk(to_status, _shard(order_id))),
                    ":concert_pk": s(_concert_pk(current.concert_id, to_status, _shard(order_id))),
                },
                ReturnValues="ALL_NEW",
            )
        )
        if isinstance(written, Refused):
            raise _changed_meanwhile(order_id, expected_version) from written.error
        return _order_from_item(written["Attributes"])

    async def attach_payment_intent(
        self, order_id: str, expected_version: int, payment_intent_id: str
    ) -> Order:
        current = await self._current(order_id, expected_version)
        pointer: Item = {**_intent_key(payment_intent_id), "order_id": s(order_id)}
        mine: Item = {":me": s(order_id)}
        actions: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _order_key(order_id),
                    "UpdateExpression": "SET payment_intent_id = :pi, version = :next",
                    "ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": {
                        ":pi": s(payment_intent_id),
                        ":expected": n(expected_version),
                        ":next": n(expected_version + 1),
                    },
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": pointer,
                    # Re-attaching the same intent to the same order is harmless.
                    "ConditionExpression": "attribute_not_exists(pk) OR order_id = :me",
                    "ExpressionAttributeValues": mine,
                }
            },
        ]
        replaced = current.payment_intent_id
        if replaced is not None and replaced != payment_intent_id:
            # The order no longer owns its former intent: free that id in the same step.
            actions.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _intent_key(replaced),
                        "ConditionExpression": "attribute_not_exists(pk) OR order_id = :me",
                        "ExpressionAttributeValues": mine,
                    }
                }
            )
        written = await self._db.write_if(lambda c: c.transact_write_items(TransactItems=actions))
        if isinstance(written, Refused):
            if 0 in written.failed:  # the order's own guard: checked first, as SQL would
                raise _changed_meanwhile(order_id, expected_version) from written.error
            raise DuplicateKey(
                f"payment intent {payment_intent_id} belongs to another order"
            ) from written.error
        # The version guard held, so the stored order is `current` plus this change.
        changed = _order_item(current)
        changed["payment_intent_id"] = s(payment_intent_id)
        changed["version"] = n(expected_version + 1)
        return _order_from_item(changed)

    async def _current(self, order_id: str, expected_version: int) -> Order:
        return at_version(await self.get(order_id), f"order {order_id}", expected_version)

    async def _via_pointer(self, key: Item) -> Order | None:
        pointer = await self._db.get_item(self._table, key)
        if pointer is None:
            return None
        return await self.get(get_s(pointer, "order_id"))

    async def _query(
        self,
        index: str,
        condition: str,
        values: Item,
        *,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Item]:
        """The items of an index query in key order (up to `limit`)."""
        request = key_query(
            self._table, condition, values, index=index, newest_first=newest_first, limit=limit
        )
        return await query_items(self._db, request, limit)


def _changed_meanwhile(order_id: str, expected_version: int) -> StoreError:
    # The order was read just before this write, and orders are never deleted: a failed
    # guard means someone else wrote a newer version in between.
    return guard_failed(f"order {order_id}", expected_version, exists=True)

"""Tickets and payment-event deduplication: both are insert-if-absent. A ticket's door
check-in is one conditional write: only the first scan sets `checked_in_at`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from app.storage.backend import by_order_then_seat, unique
from app.storage.codec import ticket_fields, ticket_from_fields
from app.storage.dynamo.client import (
    Item,
    Refused,
    TableRepository,
    bounded_gather,
    key_query,
    query_items,
    translated_errors,
)
from app.storage.dynamo.codec import (
    epoch_seconds,
    item_of,
    n,
    reader,
    s,
    sort_key,
    ts,
)
from app.storage.dynamo.tables import PAYMENT_EVENTS, TICKETS
from app.storage.errors import RecordNotFound, VersionConflict
from app.storage.records import Ticket

# How long a payment event id is remembered. Providers redeliver for days (Stripe: up to 3),
# never for a month; after that DynamoDB's TTL may delete the record.
PAYMENT_EVENT_RETENTION = timedelta(days=30)


def _ticket_item(ticket: Ticket) -> Item:
    return {
        # checked_in_at is absent until the first door scan: `attribute_not_exists` decides it.
        **item_of(ticket_fields(ticket)),
        "issued_key": s(sort_key(ticket.issued_at, ticket.id)),  # by_user index
    }


_ticket_from_item = reader(ticket_from_fields)


def _ticket_key(order_id: str, seat_id: str) -> Item:
    return {"order_id": s(order_id), "seat_id": s(seat_id)}


class DynamoTicketRepository(TableRepository):
    table_name = TICKETS.name

    async def add_many(self, tickets: Sequence[Ticket]) -> None:
        """One conditional put per ticket, concurrently (BatchWriteItem cannot be
        conditional). Not atomic, and need not be: issuing again skips what exists."""
        firsts = {(t.order_id, t.seat_id): t for t in reversed(tickets)}  # first one wins
        items = [_ticket_item(t) for t in firsts.values()]  # naive datetimes fail here
        await bounded_gather(self._put_if_absent(item) for item in items)

    async def _put_if_absent(self, item: Item) -> None:
        # Refused: the seat's ticket exists already, which is what was asked.
        await self._db.write_if(
            lambda c: c.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(order_id)",
            )
        )

    async def list_for_user(self, user_id: str) -> list[Ticket]:
        request = key_query(
            self._table, "user_id = :u", {":u": s(user_id)}, index="by_user", newest_first=True
        )
        return [_ticket_from_item(i) for i in await query_items(self._db, request)]

    async def list_for_orders(self, order_ids: Sequence[str]) -> list[Ticket]:
        """Grouped by order in the order given, seats in layout order within an order."""
        wanted = unique(order_ids)
        per_order = await bounded_gather(self._for_order(o) for o in wanted)
        return by_order_then_seat((_ticket_from_item(i) for it in per_order for i in it), wanted)

    async def get(self, order_id: str, seat_id: str) -> Ticket | None:
        item = await self._db.get_item(self._table, _ticket_key(order_id, seat_id))
        return _ticket_from_item(item) if item else None

    async def check_in(self, order_id: str, seat_id: str, at: datetime) -> tuple[Ticket, bool]:
        # The condition is the decision: of many concurrent scans exactly one update passes
        # it; DynamoDB applies writes to one item one at a time.
        written, ticket = await self._update_if(
            order_id,
            seat_id,
            "SET checked_in_at = :at",
            "attribute_not_exists(checked_in_at)",
            {":at": ts(at)},
        )
        return ticket, written

    async def transfer(
        self, order_id: str, seat_id: str, from_user_id: str, to_user_id: str, new_code: str
    ) -> Ticket:
        # As check_in: the condition decides among concurrent transfers and scans. The
        # by_user index follows user_id.
        written, ticket = await self._update_if(
            order_id,
            seat_id,
            "SET user_id = :to, code = :code",
            "user_id = :from AND attribute_not_exists(checked_in_at)",
            {":to": s(to_user_id), ":from": s(from_user_id), ":code": s(new_code)},
        )
        if not written:
            raise VersionConflict(f"ticket for seat {seat_id} of order {order_id} changed hands")
        return ticket

    async def _update_if(
        self,
        order_id: str,
        seat_id: str,
        update: str,
        condition: str,
        values: Item,
    ) -> tuple[bool, Ticket]:
        """Update the ticket if it exists and `condition` holds: (True, the ticket after) or
        (False, the ticket as it is); RecordNotFound if there is no such ticket."""
        key = _ticket_key(order_id, seat_id)
        written = await self._db.write_if(
            lambda c: c.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(order_id) AND {condition}",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
        if not isinstance(written, Refused):
            return True, _ticket_from_item(written["Attributes"])
        # No old item: no such ticket, or a server that does not return the old item.
        found = written.old or await self._db.get_item(self._table, key)
        if found is None:
            raise RecordNotFound(f"no ticket for seat {seat_id} of order {order_id}")
        return False, _ticket_from_item(found)

    async def _for_order(self, order_id: str) -> list[Item]:
        # The order's tickets are one item collection: a strongly consistent Query.
        request = key_query(self._table, "order_id = :o", {":o": s(order_id)}, consistent=True)
        return await query_items(self._db, request)


class DynamoPaymentEventRepository(TableRepository):
    table_name = PAYMENT_EVENTS.name

    async def record_if_absent(self, event_id: str, event_type: str, received_at: datetime) -> bool:
        received = epoch_seconds(received_at)
        item: Item = {
            "pk": s(event_id),
            "event_type": s(event_type),
            "received_at": ts(received_at),
            "ttl": n(received + int(PAYMENT_EVENT_RETENTION.total_seconds())),
        }
        # TTL deletes lazily (up to days late, and never on moto): a record past its expiry
        # counts as absent here already.
        written = await self._db.write_if(
            lambda c: c.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #ttl <= :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":now": n(received)},
            )
        )
        return not isinstance(written, Refused)

    async def forget(self, event_id: str) -> None:
        with translated_errors():
            await self._db.run(
                lambda c: c.delete_item(TableName=self._table, Key={"pk": s(event_id)})
            )

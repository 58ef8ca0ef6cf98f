"""Tickets and payment-event deduplication: both are insert-if-absent. A ticket's door
check-in is one conditional write: only the first scan sets `checked_in_at`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app.storage.backend import by_order_then_seat, unique
from app.storage.errors import RecordNotFound, VersionConflict
from app.storage.mongo.codec import encode_time, ticket_document, ticket_from_document
from app.storage.mongo.db import MAJORITY, MongoDatabase, find_all, find_one
from app.storage.mongo.indexes import TICKETS_ORDER_SEAT
from app.storage.mongo.translate import DUPLICATE_KEY_CODE, translated_errors
from app.storage.records import Ticket


def _is_order_seat_duplicate(write_error: dict[str, Any]) -> bool:
    """A duplicate on the unique (order, seat) index: that seat already has its ticket."""
    if write_error.get("code") != DUPLICATE_KEY_CODE:
        return False
    pattern = write_error.get("keyPattern")
    if isinstance(pattern, dict):
        return list(pattern) == ["order_id", "seat_id"]
    # Servers that do not report keyPattern name the index in the message.
    return f"index: {TICKETS_ORDER_SEAT} " in str(write_error.get("errmsg", ""))


class MongoTicketRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._tickets = db.tickets
        # A check-in acknowledged by a majority survives a failover: a rolled-back first scan
        # would let the same ticket in twice.
        self._check_ins = db.tickets.with_options(write_concern=MAJORITY)

    async def add_many(self, tickets: Sequence[Ticket]) -> None:
        if not tickets:
            return
        docs = [ticket_document(t) for t in tickets]
        with translated_errors():
            try:
                # Unordered: every ticket is attempted, duplicates do not stop the rest.
                await self._tickets.insert_many(docs, ordered=False)
            except BulkWriteError as error:
                # Only (order, seat) duplicates are skipped: re-issuing an order is safe,
                # while a clash on the ticket id is a real DuplicateKey.
                details = error.details
                write_errors = details.get("writeErrors", [])
                skippable = write_errors and all(_is_order_seat_duplicate(e) for e in write_errors)
                if not skippable or details.get("writeConcernErrors"):
                    raise

    async def list_for_user(self, user_id: str) -> list[Ticket]:
        newest_first = [("issued_at", DESCENDING), ("_id", DESCENDING)]
        query = {"user_id": user_id}
        return await find_all(self._tickets, query, ticket_from_document, sort=newest_first)

    async def list_for_orders(self, order_ids: Sequence[str]) -> list[Ticket]:
        """Grouped by order in the order given, seats in layout order within an order."""
        wanted = unique(order_ids)
        if not wanted:
            return []
        query = {"order_id": {"$in": wanted}}
        found = await find_all(self._tickets, query, ticket_from_document)
        return by_order_then_seat(found, wanted)

    async def get(self, order_id: str, seat_id: str) -> Ticket | None:
        query = {"order_id": order_id, "seat_id": seat_id}
        return await find_one(self._tickets, query, ticket_from_document)

    async def check_in(self, order_id: str, seat_id: str, at: datetime) -> tuple[Ticket, bool]:
        the_ticket = {"order_id": order_id, "seat_id": seat_id}  # the unique index's keys
        with translated_errors():
            # The filter is the decision: findAndModify on one document is atomic, so of many
            # concurrent scans exactly one matches the unset time and sets it.
            admitted = await self._check_ins.find_one_and_update(
                {**the_ticket, "checked_in_at": None},
                {"$set": {"checked_in_at": encode_time(at)}},
                return_document=ReturnDocument.AFTER,
            )
            if admitted is not None:
                return ticket_from_document(admitted), True
            # Not first: the time, once set, never changes, so reading it afterwards is right.
            doc = await self._tickets.find_one(the_ticket)
        if doc is None:
            raise RecordNotFound(f"no ticket for seat {seat_id} of order {order_id}")
        return ticket_from_document(doc), False

    async def transfer(
        self, order_id: str, seat_id: str, from_user_id: str, to_user_id: str, new_code: str
    ) -> Ticket:
        the_ticket = {"order_id": order_id, "seat_id": seat_id}
        with translated_errors():
            # As check_in: one findAndModify, whose filter decides among concurrent writers.
            given = await self._check_ins.find_one_and_update(
                {**the_ticket, "user_id": from_user_id, "checked_in_at": None},
                {"$set": {"user_id": to_user_id, "code": new_code}},
                return_document=ReturnDocument.AFTER,
            )
            if given is not None:
                return ticket_from_document(given)
            exists = await self._tickets.find_one(the_ticket, {"_id": 1})
        if exists is None:
            raise RecordNotFound(f"no ticket for seat {seat_id} of order {order_id}")
        raise VersionConflict(f"ticket for seat {seat_id} of order {order_id} changed hands")


class MongoPaymentEventRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._events = db.payment_events  # majority write concern (see db.py)

    async def record_if_absent(self, event_id: str, event_type: str, received_at: datetime) -> bool:
        doc = {"_id": event_id, "event_type": event_type, "received_at": encode_time(received_at)}
        with translated_errors():
            try:
                # The _id index decides among concurrent deliveries: one insert wins.
                await self._events.insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    async def forget(self, event_id: str) -> None:
        with translated_errors():
            await self._events.delete_one({"_id": event_id})

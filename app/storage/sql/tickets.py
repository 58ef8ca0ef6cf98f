"""Tickets and payment-event deduplication: both are insert-if-absent. A ticket's door
check-in is one conditional write: only the first scan sets `checked_in_at`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from app.storage.backend import by_order_then_seat, unique
from app.storage.codec import as_utc, ticket_fields, ticket_from_fields
from app.storage.errors import RecordNotFound, VersionConflict
from app.storage.records import Ticket
from app.storage.sql.db import Database, chunked
from app.storage.sql.tables import payment_events, tickets

# Plain SQL for asyncpg (PostgreSQL only, see rawpg.py): the same tables and encodings.
_INSERT_TICKETS = (
    "INSERT INTO tickets (id, order_id, user_id, concert_id, seat_id, section, row_label,"
    " seat_number, code, issued_at, checked_in_at)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::int[], $9::text[], $10::timestamptz[], $11::timestamptz[])"
    " ON CONFLICT (order_id, seat_id) DO NOTHING"
)
_RECORD_EVENT = (
    "INSERT INTO payment_events (event_id, event_type, received_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
_FORGET_EVENT = "DELETE FROM payment_events WHERE event_id = $1"


class SqlTicketRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_many(self, tickets_to_add: Sequence[Ticket]) -> None:
        if not tickets_to_add:
            return
        if self._db.raw is not None:
            async with self._db.raw.connection() as raw:
                for chunk in chunked(tickets_to_add):
                    await raw.execute(
                        _INSERT_TICKETS,
                        [t.id for t in chunk],
                        [t.order_id for t in chunk],
                        [t.user_id for t in chunk],
                        [t.concert_id for t in chunk],
                        [t.seat_id for t in chunk],
                        [t.section for t in chunk],
                        [t.row for t in chunk],
                        [t.number for t in chunk],
                        [t.code for t in chunk],
                        [as_utc(t.issued_at) for t in chunk],
                        [as_utc(t.checked_in_at) if t.checked_in_at else None for t in chunk],
                    )
            return
        # Insert-if-absent, so a partly applied batch is completed by the next call; one
        # chunk (any real order) is one statement anyway.
        async with self._db.atomic_statements() as conn:
            for chunk in chunked(tickets_to_add):
                # Only (order, seat) conflicts are skipped: re-issuing an order is safe, while
                # a clash on the ticket id is a real DuplicateKey.
                statement = (
                    self._db.insert(tickets)
                    .values([ticket_fields(t) for t in chunk])
                    .on_conflict_do_nothing(index_elements=["order_id", "seat_id"])
                )
                await conn.execute(statement)

    async def list_for_user(self, user_id: str) -> list[Ticket]:
        query = (
            select(tickets)
            .where(tickets.c.user_id == user_id)
            .order_by(tickets.c.issued_at.desc(), tickets.c.id.desc())
        )
        return await self._db.every(query, ticket_from_fields)

    async def list_for_orders(self, order_ids: Sequence[str]) -> list[Ticket]:
        """Grouped by order in the order given, seats in layout order within an order."""
        wanted = unique(order_ids)
        found: list[Ticket] = []
        async with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = select(tickets).where(tickets.c.order_id.in_(chunk))
                found.extend(ticket_from_fields(r._mapping) for r in (await conn.execute(query)))
        return by_order_then_seat(found, wanted)

    async def get(self, order_id: str, seat_id: str) -> Ticket | None:
        t = tickets.c
        query = select(tickets).where(t.order_id == order_id, t.seat_id == seat_id)
        return await self._db.first(query, ticket_from_fields)

    async def check_in(self, order_id: str, seat_id: str, at: datetime) -> tuple[Ticket, bool]:
        t = tickets.c
        # The WHERE clause is the decision: of many concurrent scans exactly one UPDATE matches
        # (PostgreSQL re-checks it after waiting on the row lock; SQLite runs writers one at a
        # time), so there is no read-then-write window in Python.
        first_scan = (
            update(tickets)
            .where(t.order_id == order_id, t.seat_id == seat_id, t.checked_in_at.is_(None))
            .values(checked_in_at=as_utc(at))
            .returning(*tickets.c)
        )
        async with self._db.write() as conn:
            admitted = (await conn.execute(first_scan)).first()
            if admitted is not None:
                return ticket_from_fields(admitted._mapping), True
            # Not first: the row, read in the same transaction, has the first time.
            query = select(tickets).where(t.order_id == order_id, t.seat_id == seat_id)
            row = (await conn.execute(query)).first()
        if row is None:
            raise RecordNotFound(f"no ticket for seat {seat_id} of order {order_id}")
        return ticket_from_fields(row._mapping), False

    async def transfer(
        self, order_id: str, seat_id: str, from_user_id: str, to_user_id: str, new_code: str
    ) -> Ticket:
        t = tickets.c
        # As check_in: the WHERE clause decides among concurrent transfers and scans.
        give = (
            update(tickets)
            .where(
                t.order_id == order_id,
                t.seat_id == seat_id,
                t.user_id == from_user_id,
                t.checked_in_at.is_(None),
            )
            .values(user_id=to_user_id, code=new_code)
            .returning(*tickets.c)
        )
        async with self._db.write() as conn:
            given = (await conn.execute(give)).first()
            if given is not None:
                return ticket_from_fields(given._mapping)
            query = select(tickets.c.order_id).where(t.order_id == order_id, t.seat_id == seat_id)
            exists = (await conn.execute(query)).first() is not None
        if not exists:
            raise RecordNotFound(f"no ticket for seat {seat_id} of order {order_id}")
        raise VersionConflict(f"ticket for seat {seat_id} of order {order_id} changed hands")


class SqlPaymentEventRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_if_absent(self, event_id: str, event_type: str, received_at: datetime) -> bool:
        # ON CONFLICT DO NOTHING RETURNING yields a row only for the one insert that won, even
        # among concurrent deliveries (PostgreSQL makes the others wait, then skip).
        if self._db.raw is not None:
            async with self._db.raw.connection() as raw:
                won = await raw.fetchval(_RECORD_EVENT, event_id, event_type, as_utc(received_at))
            return won is not None
        statement = (
            self._db.insert(payment_events)
            .values(event_id=event_id, event_type=event_type, received_at=as_utc(received_at))
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(payment_events.c.event_id)
        )
        async with self._db.atomic_statements() as conn:
            inserted = (await conn.execute(statement)).first()
        return inserted is not None

    async def forget(self, event_id: str) -> None:
        if self._db.raw is not None:
            async with self._db.raw.connection() as raw:
                await raw.execute(_FORGET_EVENT, event_id)
            return
        async with self._db.write() as conn:
            await conn.execute(delete(payment_events).where(payment_events.c.event_id == event_id))

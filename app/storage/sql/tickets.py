"""Tickets and payment-event deduplication: both are insert-if-absent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select

from app.storage.documents import as_utc
from app.storage.records import Ticket
from app.storage.sql.codec import ticket_from_row, ticket_values
from app.storage.sql.db import Database, chunked, unique
from app.storage.sql.tables import payment_events, tickets


class SqlTicketRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_many(self, tickets_to_add: Sequence[Ticket]) -> None:
        if not tickets_to_add:
            return
        # Insert-if-absent, so a partly applied batch is completed by the next call; one
        # chunk (any real order) is one statement anyway.
        async with self._db.atomic_statements() as conn:
            for chunk in chunked(tickets_to_add):
                # Only (order, seat) conflicts are skipped: re-issuing an order is safe, while
                # a clash on the ticket id is a real DuplicateKey.
                statement = (
                    self._db.insert(tickets)
                    .values([ticket_values(t) for t in chunk])
                    .on_conflict_do_nothing(index_elements=["order_id", "seat_id"])
                )
                await conn.execute(statement)

    async def list_for_user(self, user_id: str) -> list[Ticket]:
        query = (
            select(tickets)
            .where(tickets.c.user_id == user_id)
            .order_by(tickets.c.issued_at.desc(), tickets.c.id.desc())
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [ticket_from_row(r._mapping) for r in rows]

    async def list_for_orders(self, order_ids: Sequence[str]) -> list[Ticket]:
        """Grouped by order in the order given, seats in layout order within an order."""
        wanted = unique(order_ids)
        found: list[Ticket] = []
        async with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = select(tickets).where(tickets.c.order_id.in_(chunk))
                found.extend(ticket_from_row(r._mapping) for r in (await conn.execute(query)))
        position = {order_id: i for i, order_id in enumerate(wanted)}
        return sorted(found, key=lambda t: (position[t.order_id], t.section, t.row, t.number))


class SqlPaymentEventRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_if_absent(self, event_id: str, event_type: str, received_at: datetime) -> bool:
        # ON CONFLICT DO NOTHING RETURNING yields a row only for the one insert that won, even
        # among concurrent deliveries (PostgreSQL makes the others wait, then skip).
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
        async with self._db.write() as conn:
            await conn.execute(delete(payment_events).where(payment_events.c.event_id == event_id))

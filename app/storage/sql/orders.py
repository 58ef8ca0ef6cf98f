"""Orders: optimistic locking on `version`; history appended under the same guard."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.codec import (
    as_utc,
    encode_time,
    order_fields,
    order_from_fields,
    transition_document,
)
from app.storage.errors import at_version, guard_failed
from app.storage.records import Order, OrderStatus, OrderTransition
from app.storage.sql.db import Database
from app.storage.sql.tables import orders

# Plain SQL for asyncpg (PostgreSQL only, see rawpg.py): the same table and encodings.
# (Literal strings, the column list spelled out in each: no SQL is built at run time.)
_INSERT = (
    "INSERT INTO orders ("
    "id, user_id, concert_id, hold_id, seat_ids, amount_cents, currency, status, created_at,"
    " expires_at, payment_intent_id, version, history"
    ") VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)"
)
_SELECT_BY = {
    "id": (
        "SELECT "
        "id, user_id, concert_id, hold_id, seat_ids, amount_cents, currency, status, created_at,"
        " expires_at, payment_intent_id, version, history"
        " FROM orders WHERE id = $1"
    ),
    "hold_id": (
        "SELECT "
        "id, user_id, concert_id, hold_id, seat_ids, amount_cents, currency, status, created_at,"
        " expires_at, payment_intent_id, version, history"
        " FROM orders WHERE hold_id = $1"
    ),
    "payment_intent_id": (
        "SELECT "
        "id, user_id, concert_id, hold_id, seat_ids, amount_cents, currency, status, created_at,"
        " expires_at, payment_intent_id, version, history"
        " FROM orders WHERE payment_intent_id = $1"
    ),
}
# One statement: the history entry is built from the row's own status, under the version
# guard, so no read is needed first (the SQLAlchemy path reads, then guards the UPDATE).
_TRANSITION = (
    "UPDATE orders SET status = $3::text, version = version + 1, history = history ||"
    " jsonb_build_array(jsonb_build_object('from', status, 'to', $3::text, 'reason', $4::text,"
    " 'at', $5::text)) WHERE id = $1 AND version = $2 RETURNING "
    "id, user_id, concert_id, hold_id, seat_ids, amount_cents, currency, status, created_at,"
    " expires_at, payment_intent_id, version, history"
)
_ATTACH = (
    "UPDATE orders SET payment_intent_id = $3, version = version + 1"
    " WHERE id = $1 AND version = $2 RETURNING "
    "id, user_id, concert_id, hold_id, seat_ids, amount_cents, currency, status, created_at,"
    " expires_at, payment_intent_id, version, history"
)
_EXISTS = "SELECT 1 FROM orders WHERE id = $1"


def _order_from_record(record: Mapping[str, Any]) -> Order:
    values = dict(record)
    values["seat_ids"] = json.loads(values["seat_ids"])
    values["history"] = json.loads(values["history"])
    return order_from_fields(values)


class SqlOrderRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, order: Order) -> None:
        if self._db.raw is not None:
            v = order_fields(order)
            async with self._db.raw.connection() as raw:
                await raw.execute(
                    _INSERT,
                    v["id"],
                    v["user_id"],
                    v["concert_id"],
                    v["hold_id"],
                    json.dumps(v["seat_ids"]),
                    v["amount_cents"],
                    v["currency"],
                    v["status"],
                    as_utc(v["created_at"]),
                    as_utc(v["expires_at"]),
                    v["payment_intent_id"],
                    v["version"],
                    json.dumps(v["history"]),
                )
            return
        async with self._db.atomic_statements() as conn:
            await conn.execute(orders.insert().values(**order_fields(order)))

    async def get(self, order_id: str) -> Order | None:
        if self._db.raw is not None:
            return await self._raw_one("id", order_id)
        return await self._get_one(orders.c.id == order_id)

    async def get_by_hold(self, hold_id: str) -> Order | None:
        if self._db.raw is not None:
            return await self._raw_one("hold_id", hold_id)
        return await self._get_one(orders.c.hold_id == hold_id)

    async def get_by_payment_intent(self, payment_intent_id: str) -> Order | None:
        if self._db.raw is not None:
            return await self._raw_one("payment_intent_id", payment_intent_id)
        return await self._get_one(orders.c.payment_intent_id == payment_intent_id)

    async def _raw_one(self, column: str, value: str) -> Order | None:
        assert self._db.raw is not None
        async with self._db.raw.connection() as raw:
            record = await raw.fetchrow(_SELECT_BY[column], value)
        return _order_from_record(record) if record is not None else None

    async def _raw_update(self, statement: str, order_id: str, *args: Any) -> Order:
        """A version-guarded UPDATE ... RETURNING ($1 the id, $2 the expected version)."""
        assert self._db.raw is not None
        async with self._db.raw.connection() as raw:
            record = await raw.fetchrow(statement, order_id, *args)
            if record is not None:
                return _order_from_record(record)
            exists = await raw.fetchval(_EXISTS, order_id)
        raise guard_failed(f"order {order_id}", args[0], exists=exists is not None)

    async def list_for_user(self, user_id: str, limit: int) -> list[Order]:
        query = (
            select(orders)
            .where(orders.c.user_id == user_id)
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(limit)
        )
        return await self._db.every(query, order_from_fields)

    async def list_for_concert(
        self, concert_id: str, statuses: Collection[OrderStatus]
    ) -> list[Order]:
        query = (
            select(orders)
            .where(
                orders.c.concert_id == concert_id,
                orders.c.status.in_([s.value for s in statuses]),
            )
            .order_by(orders.c.created_at, orders.c.id)
        )
        return await self._db.every(query, order_from_fields)

    async def list_due(self, status: OrderStatus, due_before: datetime, limit: int) -> list[Order]:
        query = (
            select(orders)
            .where(orders.c.status == status.value, orders.c.expires_at < as_utc(due_before))
            .order_by(orders.c.expires_at, orders.c.id)
            .limit(limit)
        )
        return await self._db.every(query, order_from_fields)

    async def transition(
        self,
        order_id: str,
        expected_version: int,
        to_status: OrderStatus,
        reason: str,
        at: datetime,
    ) -> Order:
        at = as_utc(at)
        if self._db.raw is not None:
            return await self._raw_update(
                _TRANSITION, order_id, expected_version, to_status.value, reason, encode_time(at)
            )
        # No transaction needed on PostgreSQL: the UPDATE's version guard fails if the order
        # changed after the read the history was built from.
        async with self._db.atomic_statements() as conn:
            current = await self._current(conn, order_id, expected_version)
            entry = OrderTransition(
                from_status=current.status, to_status=to_status, reason=reason, at=at
            )
            history = [transition_document(t) for t in (*current.history, entry)]
            # The history was read in this transaction; the version guard on the UPDATE makes
            # sure nobody changed the order in between (else it matches no row).
            return await self._guarded_update(
                conn,
                order_id,
                expected_version,
                {"status": to_status.value, "history": history},
            )

    async def attach_payment_intent(
        self, order_id: str, expected_version: int, payment_intent_id: str
    ) -> Order:
        if self._db.raw is not None:
            return await self._raw_update(_ATTACH, order_id, expected_version, payment_intent_id)
        async with self._db.atomic_statements() as conn:
            return await self._guarded_update(
                conn, order_id, expected_version, {"payment_intent_id": payment_intent_id}
            )

    async def _current(self, conn: AsyncConnection, order_id: str, expected_version: int) -> Order:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
        order = order_from_fields(row._mapping) if row else None
        return at_version(order, f"order {order_id}", expected_version)

    async def _guarded_update(
        self, conn: AsyncConnection, order_id: str, expected_version: int, values: dict[str, Any]
    ) -> Order:
        statement = (
            update(orders)
            .where(orders.c.id == order_id, orders.c.version == expected_version)
            .values(**values, version=expected_version + 1)
            .returning(*orders.c)
        )
        row = (await conn.execute(statement)).first()
        if row is not None:
            return order_from_fields(row._mapping)
        exists = (await conn.execute(select(orders.c.id).where(orders.c.id == order_id))).first()
        raise guard_failed(f"order {order_id}", expected_version, exists=exists is not None)

    async def _get_one(self, condition: ColumnElement[bool]) -> Order | None:
        return await self._db.first(select(orders).where(condition), order_from_fields)

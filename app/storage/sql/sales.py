"""Seat sales: the durable guarantee that no seat is sold twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.backend import unique
from app.storage.claims import claim_in_rounds
from app.storage.codec import as_utc
from app.storage.sql.db import Database, chunked
from app.storage.sql.tables import seat_sales

# Plain SQL for asyncpg (PostgreSQL only, see rawpg.py). The seats go in the array's order
# (sorted by the caller), as the multi-row VALUES of the SQLAlchemy path do.
_INSERT_ABSENT = (
    "INSERT INTO seat_sales (concert_id, seat_id, order_id, sold_at)"
    " SELECT $1, s.seat_id, $3, $4 FROM unnest($2::text[]) WITH ORDINALITY AS s(seat_id, n)"
    " ORDER BY s.n ON CONFLICT (concert_id, seat_id) DO NOTHING RETURNING seat_id"
)
_OWNERS = (
    "SELECT seat_id, order_id FROM seat_sales WHERE concert_id = $1 AND seat_id = ANY($2::text[])"
)


class SqlSaleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(
        self, concert_id: str, seat_ids: Sequence[str], order_id: str, at: datetime
    ) -> None:
        """All or nothing, decided by the (concert_id, seat_id) primary key.

        In one transaction: INSERT every seat with ON CONFLICT DO NOTHING, then read back the
        owner of every requested seat. Seats owned by another order -> SeatsAlreadySold and
        the transaction rolls back, so none of this claim's rows survive. Seats already owned
        by this order are a harmless re-delivery.

        Concurrency: on SQLite the transaction holds the write lock from BEGIN IMMEDIATE, so
        claims run one after another. On PostgreSQL (READ COMMITTED) an insert that meets an
        uncommitted row of a competing claim waits for it: if that claim commits, the seat is
        skipped here and the read-back (a fresh snapshot) sees its owner; if it rolls back,
        the row is inserted here. Seats are inserted in sorted order, so two claims always
        lock common seats in the same order and cannot deadlock each other.
        """
        wanted = sorted(unique(seat_ids))
        if not wanted:
            return
        at = as_utc(at)
        if self._db.raw is not None:
            await self._raw_claim(concert_id, wanted, order_id, at)
            return
        async with self._db.write() as conn:

            async def insert_absent(seats: list[str]) -> bool:
                await self._insert_absent(conn, concert_id, seats, order_id, at)
                return False  # not counted: the owners are read back

            async def read_owners() -> dict[str, str]:
                return await self._owners(conn, concert_id, wanted)

            await claim_in_rounds(wanted, order_id, insert_absent, read_owners)

    async def _raw_claim(
        self, concert_id: str, wanted: list[str], order_id: str, at: datetime
    ) -> None:
        """`claim` in one transaction over asyncpg: when the INSERT wrote every seat (a first
        delivery, nobody else), its RETURNING says so and the read-back is skipped."""
        assert self._db.raw is not None
        # SeatsAlreadySold, like any error, rolls the transaction back.
        async with self._db.raw.connection() as raw, raw.transaction():

            async def insert_absent(seats: list[str]) -> bool:
                inserted = await raw.fetch(_INSERT_ABSENT, concert_id, seats, order_id, at)
                return len(inserted) == len(seats)

            async def read_owners() -> dict[str, str]:
                return {r[0]: r[1] for r in await raw.fetch(_OWNERS, concert_id, wanted)}

            await claim_in_rounds(wanted, order_id, insert_absent, read_owners)

    async def _insert_absent(
        self,
        conn: AsyncConnection,
        concert_id: str,
        seat_ids: Sequence[str],
        order_id: str,
        at: datetime,
    ) -> None:
        for chunk in chunked(seat_ids):
            rows = [
                {"concert_id": concert_id, "seat_id": s, "order_id": order_id, "sold_at": at}
                for s in chunk
            ]
            statement = (
                self._db.insert(seat_sales)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["concert_id", "seat_id"])
            )
            await conn.execute(statement)

    async def _owners(
        self, conn: AsyncConnection, concert_id: str, seat_ids: Sequence[str]
    ) -> dict[str, str]:
        owners: dict[str, str] = {}
        for chunk in chunked(seat_ids):
            query = select(seat_sales.c.seat_id, seat_sales.c.order_id).where(
                seat_sales.c.concert_id == concert_id, seat_sales.c.seat_id.in_(chunk)
            )
            owners.update(dict((await conn.execute(query)).all()))
        return owners

    async def release(self, order_id: str) -> int:
        async with self._db.write() as conn:
            result = await conn.execute(delete(seat_sales).where(seat_sales.c.order_id == order_id))
        return result.rowcount

    async def sold_seats(self, concert_id: str) -> dict[str, str]:
        query = select(seat_sales.c.seat_id, seat_sales.c.order_id).where(
            seat_sales.c.concert_id == concert_id
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return dict(rows)

    async def count_sold(self, concert_ids: Iterable[str]) -> dict[str, int]:
        wanted = unique(concert_ids)
        counts = dict.fromkeys(wanted, 0)
        async with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = (
                    select(seat_sales.c.concert_id, func.count())
                    .where(seat_sales.c.concert_id.in_(chunk))
                    .group_by(seat_sales.c.concert_id)
                )
                counts.update(dict((await conn.execute(query)).all()))
        return counts

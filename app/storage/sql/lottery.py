"""Presale lottery registrations: insert-if-absent on the (concert_id, user_id) primary key.

On SQLite the insert is one autocommit statement sent straight to the driver: SQLite's write
lock is then held inside that one statement, not from a BEGIN IMMEDIATE across the event
loop's round trips to the INSERT and the COMMIT. Registrations are many small writes at once
(hundreds of tasks on one file); held across round trips, the lock queued writers past the
busy timeout ("database is locked") on a loaded machine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, delete, func, select

from app.storage.codec import as_utc
from app.storage.records import LotteryRegistration
from app.storage.sql.db import Database
from app.storage.sql.tables import lottery_registrations
from app.storage.sql.translate import translated_errors

_t = lottery_registrations

_SQLITE_INSERT = (
    "INSERT INTO lottery_registrations (concert_id, user_id, entry_id, registered_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (concert_id, user_id) DO NOTHING"
)
# How SQLAlchemy's SQLite DATETIME stores an instant (UTCDateTime makes it naive UTC first),
# so rows written here read back like every other.
_SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"


def _registration(row: RowMapping) -> LotteryRegistration:
    return LotteryRegistration(
        concert_id=row["concert_id"],
        user_id=row["user_id"],
        entry_id=row["entry_id"],
        registered_at=row["registered_at"],
    )


class SqlLotteryRegistrationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, registration: LotteryRegistration) -> bool:
        if self._db.dialect == "sqlite":
            return await self._sqlite_register(registration)
        # ON CONFLICT DO NOTHING RETURNING yields a row only for the insert that won: on
        # PostgreSQL a concurrent insert of the same key waits for the first, then skips; on
        # SQLite writers are serialized (BEGIN IMMEDIATE).
        statement = (
            self._db.insert(_t)
            .values(
                concert_id=registration.concert_id,
                user_id=registration.user_id,
                entry_id=registration.entry_id,
                registered_at=as_utc(registration.registered_at),
            )
            .on_conflict_do_nothing(index_elements=["concert_id", "user_id"])
            .returning(_t.c.user_id)
        )
        async with self._db.atomic_statements() as conn:
            inserted = (await conn.execute(statement)).first()
        return inserted is not None

    async def _sqlite_register(self, registration: LotteryRegistration) -> bool:
        at = as_utc(registration.registered_at).replace(tzinfo=None).strftime(_SQLITE_INSTANT)
        values = (registration.concert_id, registration.user_id, registration.entry_id, at)
        with translated_errors():
            async with self._db.engine.connect() as conn:
                # The driver's own connection (aiosqlite), in autocommit (engine.py): no
                # BEGIN, so the statement is its own transaction, committed before execute
                # returns (no RETURNING: its rows would keep the statement, and so the lock,
                # open until they are fetched). The row count says whether it inserted.
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                cursor = await driver.execute(_SQLITE_INSERT, values)
                inserted = int(cursor.rowcount)
                await cursor.close()
        return inserted == 1

    async def get(self, concert_id: str, user_id: str) -> LotteryRegistration | None:
        query = select(_t).where(_t.c.concert_id == concert_id, _t.c.user_id == user_id)
        return await self._db.first(query, _registration)

    async def list_for_concert(self, concert_id: str) -> list[LotteryRegistration]:
        return await self._db.every(select(_t).where(_t.c.concert_id == concert_id), _registration)

    async def count(self, concert_id: str) -> int:
        query = select(func.count()).select_from(_t).where(_t.c.concert_id == concert_id)
        async with self._db.read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def withdraw(self, concert_id: str, user_id: str) -> bool:
        statement = delete(_t).where(_t.c.concert_id == concert_id, _t.c.user_id == user_id)
        async with self._db.atomic_statements() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

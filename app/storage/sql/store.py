"""SqlStore: the SQL backend of the durable store (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.storage.backend import PING_TIMEOUT_SECONDS, StoreBackend
from app.storage.sql.concerts import SqlConcertRepository
from app.storage.sql.db import Database
from app.storage.sql.engine import build_engine
from app.storage.sql.lottery import SqlLotteryRegistrationRepository
from app.storage.sql.migrate import upgrade_to_head
from app.storage.sql.orders import SqlOrderRepository
from app.storage.sql.sales import SqlSaleRepository
from app.storage.sql.tickets import SqlPaymentEventRepository, SqlTicketRepository
from app.storage.sql.translate import translated_errors
from app.storage.sql.users import SqlRefreshTokenRepository, SqlUserRepository


class SqlStore(StoreBackend):
    """Implements `app.storage.ports.Store` over SQLAlchemy's async engine."""

    server = "database"

    def __init__(
        self,
        database_url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        auto_migrate: bool = False,
    ) -> None:
        self._engine = build_engine(database_url, echo=echo, pool_size=pool_size)
        self._auto_migrate = auto_migrate
        db = Database(self._engine, raw_pool_size=pool_size)
        self._db = db
        super().__init__(
            users=SqlUserRepository(db),
            refresh_tokens=SqlRefreshTokenRepository(db),
            concerts=SqlConcertRepository(db),
            orders=SqlOrderRepository(db),
            sales=SqlSaleRepository(db),
            tickets=SqlTicketRepository(db),
            payment_events=SqlPaymentEventRepository(db),
            lottery_registrations=SqlLotteryRegistrationRepository(db),
        )

    async def initialize(self) -> None:
        if self._auto_migrate:
            with translated_errors():
                await upgrade_to_head(self._engine)

    async def _answer(self) -> None:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS), self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        if self._db.raw is not None:
            await self._db.raw.close()
        await self._engine.dispose()

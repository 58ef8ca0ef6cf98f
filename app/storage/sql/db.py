"""What every repository shares: the engine, transactions, error translation, dialect bits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import RowMapping, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.storage.sql.engine import (
    POSTGRES_COMMAND_TIMEOUT_S,
    POSTGRES_CONNECT_TIMEOUT_S,
    writer,
)
from app.storage.sql.rawpg import RawPostgres
from app.storage.sql.translate import translated_errors

T = TypeVar("T")
R = TypeVar("R")

# Well below both SQLite's (32766) and PostgreSQL's (32767) bound-parameter limits.
MAX_IN_LIST = 1_000


class Database:
    def __init__(self, engine: AsyncEngine, *, raw_pool_size: int = 10) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # PostgreSQL: the hot statements of a sale go through plain asyncpg (rawpg.py).
        self.raw: RawPostgres | None = (
            RawPostgres(
                engine.url,
                max_size=raw_pool_size,
                connect_timeout=POSTGRES_CONNECT_TIMEOUT_S,
                command_timeout=POSTGRES_COMMAND_TIMEOUT_S,
            )
            if self.dialect == "postgresql"
            else None
        )
        self._writer = writer(engine)
        # Every read is one statement: on PostgreSQL it runs in autocommit (no BEGIN and
        # ROLLBACK round trips; READ COMMITTED gives each statement its own snapshot anyway).
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else engine
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (autocommit on PostgreSQL; on SQLite its implicit
        transaction is rolled back on exit)."""
        with translated_errors():
            async with self._reader.connect() as conn:
                yield conn

    async def first(self, query: Select[Any], build: Callable[[RowMapping], R]) -> R | None:
        """The record of the query's first row; None if it has none."""
        async with self.read() as conn:
            row = (await conn.execute(query)).first()
        return build(row._mapping) if row else None

    async def every(self, query: Select[Any], build: Callable[[RowMapping], R]) -> list[R]:
        """The records of every row of the query, in its order."""
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        return [build(r._mapping) for r in rows]

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One short transaction: committed on normal exit, rolled back on any exception."""
        with translated_errors():
            async with self._writer.begin() as conn:
                yield conn

    @asynccontextmanager
    async def atomic_statements(self) -> AsyncIterator[AsyncConnection]:
        """For statements that are each atomic and guarded on their own (one INSERT, an
        ON CONFLICT insert, a version-guarded UPDATE): on PostgreSQL they run in autocommit,
        saving the BEGIN and COMMIT round trips; on SQLite this is `write()` (BEGIN IMMEDIATE
        serializes writers there)."""
        if self.dialect != "postgresql":
            async with self.write() as conn:
                yield conn
            return
        with translated_errors():
            async with self._reader.connect() as conn:
                yield conn

    def insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT that supports ON CONFLICT on this dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


def chunked(items: Sequence[T], size: int = MAX_IN_LIST) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

"""Plain asyncpg for the few statements of a sale, on PostgreSQL only.

SQLAlchemy Core on asyncpg costs 0.4-0.6 ms of CPU per statement (building the statement,
its cache key, the execution context, the result) against about 0.1 ms for the same statement
sent by asyncpg itself, which prepares it once per connection and keeps it. A sale makes about
ten statements, so the hot ones (orders by id/hold/intent, order insert and transitions, the
seat claim, tickets, payment events) are written here as SQL text over asyncpg's own pool;
everything else, and every statement on SQLite, stays on SQLAlchemy. Both paths use the same
tables (tables.py) and the same encodings, and the one contract suite runs them.

Errors are translated as `translate.translated_errors` does for SQLAlchemy: a unique violation
is DuplicateKey, another integrity violation a StoreError, a value PostgreSQL refuses
InvalidValue, anything connection-level StoreUnavailable (and then every pooled connection is
replaced before its next use, as SQLAlchemy invalidates its pool on a disconnect).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL

from app.storage.errors import DuplicateKey, InvalidValue, StoreError, StoreUnavailable

__all__ = ["RawPostgres"]


async def _no_session_reset(_conn: asyncpg.Connection) -> None:
    """What the pool does on release besides rolling back an open transaction (which it
    always does): nothing. asyncpg's default sends one more statement per release (RESET ALL,
    UNLISTEN *, CLOSE ALL, advisory unlocks) to undo session state these statements never
    create, a round trip and PostgreSQL CPU per statement of a sale."""


class RawPostgres:
    """A lazily created asyncpg pool on the same database as the SQLAlchemy engine."""

    def __init__(
        self,
        url: URL,
        *,
        max_size: int,
        connect_timeout: float,
        command_timeout: float,
    ) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._max_size = max(1, max_size)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._creating: asyncio.Lock | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._creating is None:
            self._creating = asyncio.Lock()
        async with self._creating:
            if self._pool is None:
                # min_size 0: no connection is opened before the first statement, and none
                # is kept open by a store that is never used this way.
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._max_size,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    max_inactive_connection_lifetime=300.0,
                    reset=_no_session_reset,
                )
            return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in autocommit; errors translated to the store's own."""
        async with self._translated():
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                yield conn

    @asynccontextmanager
    async def _translated(self) -> AsyncIterator[None]:
        try:
            yield
        except StoreError:
            raise
        except asyncpg.UniqueViolationError as error:
            raise DuplicateKey(str(error)) from error
        except asyncpg.IntegrityConstraintViolationError as error:
            raise StoreError(f"integrity violation: {error}") from error
        except asyncpg.PostgresError as error:
            state = str(getattr(error, "sqlstate", "") or "")
            if state.startswith("22"):
                raise InvalidValue(f"value refused by the database: {error}") from error
            if state.startswith(("08", "57")):  # connection exception, server shutting down
                await self._expire()
            raise StoreUnavailable(f"database error: {type(error).__name__}") from error
        except asyncpg.InterfaceError as error:
            if isinstance(error, ValueError):  # asyncpg could not encode an argument
                raise InvalidValue(f"value refused by the driver: {error}") from error
            await self._expire()
            raise StoreUnavailable(f"database unreachable: {type(error).__name__}") from error
        except (OSError, TimeoutError) as error:
            await self._expire()
            raise StoreUnavailable(f"database unreachable: {type(error).__name__}") from error

    async def _expire(self) -> None:
        # After a connection-level failure every pooled connection may be dead (a restarted
        # server): each is replaced before its next use instead of failing one call each.
        if self._pool is not None:
            await self._pool.expire_connections()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

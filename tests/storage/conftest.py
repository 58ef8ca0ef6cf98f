"""Backends for the store contract suite: each test runs once per backend.

SQLite: a fresh file per session. PostgreSQL: TEST_POSTGRES_URL (default a local server),
database created if missing and emptied first; skipped when unreachable unless
REQUIRE_POSTGRES=1, in which case an unreachable server fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import MetaData, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.storage.ports import Store
from app.storage.sql import SqlStore

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/encore_test"


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    store: SqlStore


def _check_protocol(store: SqlStore) -> Store:
    """mypy --strict proves here that SqlStore satisfies the Store port."""
    return store


def postgres_url() -> str:
    # `make test` passes an empty value when it found no server: then try the default.
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


async def _reset_postgres(url: URL) -> None:
    """Create the test database if needed and drop whatever a previous run left in it."""
    connect_args = {"timeout": 5}
    admin = create_async_engine(
        url.set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args=connect_args,
    )
    try:
        async with admin.connect() as conn:
            found = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not found:
                quoted = conn.dialect.identifier_preparer.quote(str(url.database))
                await conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        await admin.dispose()

    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_drop_all_tables)
    finally:
        await engine.dispose()


def _drop_all_tables(conn: Connection) -> None:
    existing = MetaData()
    existing.reflect(conn)  # includes alembic_version
    existing.drop_all(conn)


async def _postgres_backend() -> Backend:
    url = postgres_url()
    try:
        await _reset_postgres(make_url(url))
    except (OSError, TimeoutError, sa_exc.DBAPIError) as error:
        reason = f"PostgreSQL unreachable at {url}: {type(error).__name__}: {error}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    store = SqlStore(url, auto_migrate=True)
    await store.initialize()
    return Backend("postgres", url, store)


async def _sqlite_backend(directory: Path) -> Backend:
    # A nested directory that does not exist yet: initialize() must create it.
    url = f"sqlite+aiosqlite:///{directory / 'nested' / 'encore.db'}"
    store = SqlStore(url, auto_migrate=True)
    await store.initialize()
    return Backend("sqlite", url, store)


@pytest_asyncio.fixture(
    scope="session",
    loop_scope="session",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    """Built once per backend and session; tests keep apart by using unique ids."""
    if request.param == "sqlite":
        built = await _sqlite_backend(tmp_path_factory.mktemp("sqlite"))
    else:
        built = await _postgres_backend()
    try:
        yield built
    finally:
        await built.store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return _check_protocol(backend.store)

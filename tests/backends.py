"""Test stores for every backend, shared by the store contract suite and the API suite.

Kinds: `sqlite` (a fresh file), `postgres` (TEST_POSTGRES_URL, default the local server; the
database is created if missing and emptied first; skipped when unreachable unless
REQUIRE_POSTGRES=1), `mongo` (a wire-protocol stand-in started by the tests, or
TEST_MONGO_URL), `dynamodb` (moto's server on 127.0.0.1, or TEST_DYNAMODB_ENDPOINT).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.storage.ports import Store
from app.storage.sql import SqlStore

STORE_KINDS = ("sqlite", "postgres", "mongo", "dynamodb")

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


def _run_id() -> str:
    return uuid.uuid4().hex[:10]


@asynccontextmanager
async def open_test_store(kind: str, directory: Path) -> AsyncIterator[Store]:
    """A ready, empty-enough store of this kind (tests keep apart by unique ids)."""
    if kind in ("sqlite", "postgres"):
        backend = await (_sqlite_backend(directory) if kind == "sqlite" else _postgres_backend())
        try:
            yield _check_protocol(backend.store)
        finally:
            await backend.store.close()
        return
    async with _server_settings(kind) as overrides:
        from app.settings import Settings
        from app.storage.factory import build_store

        store = build_store(Settings(app_env="test", **overrides))
        await store.initialize()
        try:
            yield store
        finally:
            await store.close()


@asynccontextmanager
async def _server_settings(kind: str) -> AsyncIterator[dict[str, Any]]:
    """Settings that point a store of this kind at a server started for the tests."""
    if kind == "mongo":
        from tests.servers.mongo import mongo_server

        async with mongo_server() as url:
            # A fresh database per session: a persistent server (TEST_MONGO_URL) keeps old ones.
            yield {"store": "mongo", "mongo_url": url, "mongo_db": f"encore_test_{_run_id()}"}
    elif kind == "dynamodb":
        from tests.servers.dynamodb import dynamodb_server

        async with dynamodb_server() as endpoint:
            yield {
                "store": "dynamodb",
                "dynamodb_endpoint": endpoint,
                "dynamodb_table_prefix": f"encore-test-{_run_id()}-",
            }
    else:
        raise ValueError(f"unknown store kind {kind!r}; one of {STORE_KINDS}")


@asynccontextmanager
async def store_settings(kind: str, directory: Path) -> AsyncIterator[dict[str, Any]]:
    """Settings overrides that make the whole app use a store of this kind (API suite)."""
    if kind == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{directory / 'api.db'}"}
    elif kind == "postgres":
        backend = await _postgres_backend()
        await backend.store.close()
        yield {"database_url": backend.url}
    else:
        async with _server_settings(kind) as overrides:
            yield overrides

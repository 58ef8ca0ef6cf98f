"""What only the SQL backend has: migrations, schema, SQLite connection settings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from app.storage.errors import InvalidValue
from app.storage.records import OrderStatus
from app.storage.sql import SqlStore
from app.storage.sql.engine import build_engine
from app.storage.sql.tables import metadata
from tests.backends import Backend
from tests.storage.factories import make_concert, make_order

REPO_ROOT = Path(__file__).resolve().parents[2]


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_declared_schema(backend: Backend) -> None:
    engine = build_engine(backend.url, null_pool=True)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_schema_differences)
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()

    assert differences == []
    head = ScriptDirectory(str(REPO_ROOT / "alembic")).get_current_head()
    assert head is not None
    assert version == head


async def test_initialize_twice_is_harmless(backend: Backend) -> None:
    again = SqlStore(backend.url, auto_migrate=True)
    try:
        await again.initialize()
        await again.ping()
    finally:
        await again.close()


async def test_sqlite_connections_use_wal_and_wait_for_locks(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            journal_mode = await conn.scalar(text("PRAGMA journal_mode"))
            busy_timeout = await conn.scalar(text("PRAGMA busy_timeout"))
            foreign_keys = await conn.scalar(text("PRAGMA foreign_keys"))
    finally:
        await engine.dispose()

    assert (journal_mode, busy_timeout, foreign_keys) == ("wal", 5000, 1)


def _alembic(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_a_new_database_another_process_is_writing_still_ends_up_in_wal(
    tmp_path: Path,
) -> None:
    """Workers starting together on a new database: while one writes in the old journal mode,
    SQLite refuses another's switch to WAL at once ("database is locked", no busy wait). The
    switch is retried, so this startup waits for the writer instead of failing."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE warming (n INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO warming VALUES (1)")  # a write in progress, rollback-journal mode
    done = threading.Timer(0.4, lambda: other.execute("COMMIT"))
    done.start()
    store = SqlStore(f"sqlite+aiosqlite:///{path}", auto_migrate=True)
    try:
        await store.initialize()  # was: StoreUnavailable (database is locked)
    finally:
        await store.close()
        done.join()
        other.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_alembic_cli_upgrades_and_downgrades_a_fresh_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "missing-dir" / "cli.db"
    url = f"sqlite+aiosqlite:///{database}"

    upgraded = _alembic("upgrade", "head", database_url=url)
    assert upgraded.returncode == 0, upgraded.stderr
    current = _alembic("current", database_url=url)
    assert "(head)" in current.stdout
    downgraded = _alembic("downgrade", "base", database_url=url)
    assert downgraded.returncode == 0, downgraded.stderr

    with closing(sqlite3.connect(database)) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = {name for (name,) in rows}
    assert tables == {"alembic_version"}


async def test_concerts_from_before_venue_time_zones_read_as_utc(tmp_path: Path) -> None:
    """Migration 0005 gives the concerts already stored the time zone UTC (and 0004 drops it
    again): a concert written, migrated down past 0005 and up again reads as UTC."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'zones.db'}"
    concert = make_concert(venue_time_zone="Asia/Tokyo")
    store = SqlStore(url, auto_migrate=True)
    try:
        await store.initialize()
        await store.concerts.add(concert)
    finally:
        await store.close()
    for step in ("0004", "head"):
        migrated = _alembic("upgrade" if step == "head" else "downgrade", step, database_url=url)
        assert migrated.returncode == 0, migrated.stderr

    store = SqlStore(url, auto_migrate=False)
    try:
        await store.initialize()
        found = await store.concerts.get(concert.id)
    finally:
        await store.close()

    assert found == replace(concert, venue_time_zone="UTC")


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_offline_sql_renders_for_both_dialects(dialect: str) -> None:
    url = (
        "sqlite+aiosqlite:///unused.db"
        if dialect == "sqlite"
        else "postgresql+asyncpg://nobody@127.0.0.1:1/unused"
    )

    rendered = _alembic("upgrade", "head", "--sql", database_url=url)

    assert rendered.returncode == 0, rendered.stderr
    assert "CREATE TABLE seat_sales" in rendered.stdout
    assert "CONSTRAINT pk_seat_sales PRIMARY KEY (concert_id, seat_id)" in rendered.stdout


async def test_declared_indexes_exist(backend: Backend) -> None:
    engine = build_engine(backend.url, null_pool=True)
    try:
        async with engine.connect() as conn:
            indexes = await conn.run_sync(
                lambda sync: {
                    ix["name"]
                    for table in metadata.tables
                    for ix in inspect(sync).get_indexes(table)
                }
            )
    finally:
        await engine.dispose()

    assert {
        "ix_refresh_tokens_family_id",
        "ix_concerts_starts_at_id",
        "ix_orders_user_id_created_at",
        "ix_orders_status_expires_at",
        "ix_seat_sales_order_id",
        "ix_tickets_user_id_issued_at",
    } <= indexes


async def test_text_postgres_refuses_is_invalid_value_not_unavailable(backend: Backend) -> None:
    """A NUL in text is the caller's bad value (422 upstream), not a database outage (503)."""
    if backend.name != "postgres":
        assert await backend.store.users.get_by_email("nul\x00@example.com") is None
        return
    with pytest.raises(InvalidValue):
        await backend.store.users.get_by_email("nul\x00@example.com")


async def test_a_sales_statements_take_plain_asyncpg_on_postgresql_only(backend: Backend) -> None:
    """The hot statements of a sale run over asyncpg's own pool on PostgreSQL (rawpg.py), and
    what they write reads back the same through SQLAlchemy's path (the contract suite runs
    every method on both backends; test_postgres_paths.py compares the two paths' answers)."""
    db = backend.store._db
    assert (db.raw is not None) == (backend.name == "postgres")
    order = make_order()
    await backend.store.orders.add(order)
    moved = await backend.store.orders.transition(
        order.id, order.version, OrderStatus.CONFIRMED, reason="paid", at=order.created_at
    )
    if db.raw is not None:
        assert db.raw._pool is not None  # the statements above went this way
        async with db.engine.connect() as conn:  # and SQLAlchemy reads what they wrote
            row = (
                await conn.execute(
                    text("SELECT status, version FROM orders WHERE id = :id"), {"id": order.id}
                )
            ).one()
        assert (row.status, row.version) == ("confirmed", moved.version)
    assert moved.history[-1].from_status is OrderStatus.PENDING_PAYMENT
    assert moved.history[-1].to_status is OrderStatus.CONFIRMED

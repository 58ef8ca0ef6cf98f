"""Alembic environment for the SQL store.

Two ways in:
- CLI (`alembic upgrade head` from the repo root): builds its own async engine from the
  DATABASE_URL environment variable (default: the embedded SQLite file) and runs the
  migrations through `connection.run_sync`.
- Programmatic (`app.storage.sql.migrate.upgrade_to_head`): a sync connection, already inside
  a transaction, arrives in `config.attributes["connection"]` and is used as is.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from app.storage.sql.engine import DEFAULT_DATABASE_URL, build_engine, ensure_sqlite_directory
from app.storage.sql.tables import metadata

config = context.config
given_connection: Connection | None = config.attributes.get("connection")

# Only the CLI configures logging: inside the app, the app's logging setup must survive.
if given_connection is None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the DDL instead of running it."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite does roll DDL back (the engine issues its own BEGIN), so a failed migration
        # leaves no half-built schema on either dialect.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    url = database_url()
    ensure_sqlite_directory(url)
    engine = build_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    if given_connection is not None:
        do_run_migrations(given_connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

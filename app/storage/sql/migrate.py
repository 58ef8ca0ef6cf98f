"""Programmatic `alembic upgrade head`, for SqlStore(auto_migrate=True) and tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command, config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.sql.engine import ensure_sqlite_directory, writer

REPO_ROOT = Path(__file__).resolve().parents[3]

# Several app processes may start at once; on PostgreSQL they take turns through this
# transaction-scoped advisory lock (an arbitrary constant that names "encore migrations").
# On SQLite the migration transaction's BEGIN IMMEDIATE already serializes them.
_MIGRATION_LOCK_KEY = 0x656E636F7265


def alembic_config() -> config.Config:
    cfg = config.Config(str(REPO_ROOT / "alembic.ini"))
    # Absolute, so migrations run the same whatever the working directory.
    cfg.set_main_option("script_location", str(REPO_ROOT / "alembic").replace("%", "%%"))
    return cfg


async def upgrade_to_head(engine: AsyncEngine) -> None:
    ensure_sqlite_directory(engine.url)
    async with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    # alembic/env.py uses this connection (and its open transaction) instead of its own engine.
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")

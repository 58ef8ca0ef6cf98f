"""Engine construction: one place that knows the per-dialect settings."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# The embedded default; also what `alembic upgrade head` uses without DATABASE_URL.
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/encore.db"

SQLITE_BUSY_TIMEOUT_MS = 5_000
POSTGRES_CONNECT_TIMEOUT_S = 5.0
POSTGRES_COMMAND_TIMEOUT_S = 15.0

# Execution option read by the SQLite "begin" hook below.
SQLITE_BEGIN_OPTION = "encore_sqlite_begin"
_SQLITE_BEGIN_STATEMENTS = {"deferred": "BEGIN DEFERRED", "immediate": "BEGIN IMMEDIATE"}


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; None for in-memory databases and other dialects."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_directory(url: str | URL) -> None:
    """The database file of a SQLite URL and its directory, created private if missing.

    SQLite creates the file but not its directory (e.g. ./data on a fresh checkout), and it
    creates the file readable by everyone (0644 under the usual umask) while it holds every
    account's password hash. So the missing directories are made 0700 and the file 0600 here,
    before SQLite opens it (an empty file is a new database); SQLite gives the `-wal` and
    `-shm` files the mode of the database file. What already exists is left as it is: its
    owner chose its permissions."""
    path = sqlite_file(url)
    if path is None:
        return
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            directory.mkdir(mode=0o700)
    _create_private(path)


def _create_private(path: Path) -> None:
    """The database file, created 0600 if it does not exist (in an existing directory)."""
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))


def build_engine(
    database_url: str, *, echo: bool = False, pool_size: int = 10, null_pool: bool = False
) -> AsyncEngine:
    """An async engine with the settings this store relies on.

    SQLite: WAL (readers never block the writer), a busy timeout so concurrent writers queue
    instead of failing, and our own BEGIN statements (see `_install_sqlite_hooks`).
    PostgreSQL: bounded connect/command timeouts. No pre-ping: it cost a round trip on every
    checkout of a pooled connection (docs/performance.md, "Figures moved out of code comments");
    a connection found dead instead invalidates the whole pool (SQLAlchemy's disconnect
    handling), so a restarted server costs one failed call per process, not a pool full of dead
    connections.
    """
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo}
    if null_pool:
        kwargs["poolclass"] = NullPool
    elif url.get_backend_name() != "sqlite" or sqlite_file(url) is not None:
        kwargs["pool_size"] = pool_size
        # PostgreSQL: no overflow. A sale's statements have their own asyncpg pool of the same
        # size (rawpg.py), so a process holds at most 2 x DATABASE_POOL_SIZE connections, and
        # overflow connections opened and closed under load cost PostgreSQL a backend start
        # (a fork and a login) each (docs/performance.md).
        postgres = url.get_backend_name() == "postgresql"
        kwargs["max_overflow"] = 0 if postgres else pool_size
        kwargs["pool_timeout"] = 10
    if url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {
            "timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "command_timeout": POSTGRES_COMMAND_TIMEOUT_S,
        }
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose transactions take SQLite's write lock up front.

    A deferred SQLite transaction that reads and then writes fails with SQLITE_BUSY, without
    waiting, when another writer committed in between; BEGIN IMMEDIATE makes it queue on the
    busy timeout instead, so read-check-write transactions are serialized, never spuriously
    failed. PostgreSQL ignores the option.
    """
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "immediate"})


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    path = sqlite_file(engine.url)

    @event.listens_for(sync_engine, "do_connect")
    def _before_connect(*_: Any) -> None:
        # Whatever opens the database first (the migrations, or a request with
        # DB_AUTO_MIGRATE off), SQLite finds the file already there, private. A missing
        # directory stays missing: only the migrations create it (ensure_sqlite_directory).
        if path is not None:
            _create_private(path)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: the driver then never issues BEGIN/COMMIT itself
        # and the "begin" hook below is the only place a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _use_wal(cursor)
            # No foreign keys are declared today (see tables.py); if some are added, SQLite
            # enforces them only with this pragma.
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
        dbapi_connection.create_function("py_lower", 1, _py_lower, deterministic=True)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "deferred")
        connection.exec_driver_sql(_SQLITE_BEGIN_STATEMENTS[mode])


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (a property of the file: once set, every later connection
    finds it so, and this is a no-op).

    The switch needs the file to itself, and SQLite refuses it at once, without waiting on the
    busy timeout, while another connection is writing in the old mode ("database is locked"),
    or answers the old mode when it could not switch. That happens when several processes
    open a new database together (the workers of `python -m app.serve` starting at once): one
    worker's startup failed so. The switch is therefore retried for up to the busy timeout; a
    database still not in WAL then works all the same (slower under concurrent readers), with
    a warning. In-memory databases answer "memory" and stay so."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            mode = str(cursor.fetchone()[0]).lower()
            if mode in ("wal", "memory"):
                return
        except Exception as error:  # the driver's OperationalError, through SQLAlchemy's adaptor
            if "locked" not in str(error):
                raise
            mode = "locked"
        if time.monotonic() >= deadline:
            log.warning("SQLite stays out of WAL mode", extra={"journal_mode": mode})
            return
        time.sleep(0.05)  # only ever while a new database is being set up


def _py_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value

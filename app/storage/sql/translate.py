"""Driver and SQLAlchemy exceptions -> the store's own errors (app.storage.errors)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from app.storage.errors import DuplicateKey, InvalidValue, StoreError, StoreUnavailable

# Exceptions that can reach us without SQLAlchemy wrapping them (e.g. raised while a pooled
# connection is being opened). asyncpg is optional at import time: a SQLite-only install
# must still work.
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,)
try:
    import asyncpg

    _DRIVER_ERRORS += (asyncpg.PostgresError, asyncpg.InterfaceError)
except ImportError:  # pragma: no cover - asyncpg is a declared dependency
    pass

# Connection-level trouble, wherever it comes from.
_UNREACHABLE: tuple[type[BaseException], ...] = (OSError, TimeoutError, *_DRIVER_ERRORS)

_POSTGRES_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE_ERRORS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    orig = error.orig
    if getattr(orig, "sqlstate", None) == _POSTGRES_UNIQUE_VIOLATION:
        return True
    if getattr(orig, "sqlite_errorname", None) in _SQLITE_UNIQUE_ERRORS:
        return True
    return "unique" in str(orig).lower()


def _is_data_exception(error: sa_exc.SQLAlchemyError) -> bool:
    # SQLSTATE class 22 is "data exception": a NUL in text, a number out of range... The
    # asyncpg adapter reports these as a generic DBAPIError, so look at the code itself.
    orig = getattr(error, "orig", None)
    return str(getattr(orig, "sqlstate", "") or "").startswith("22")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Let only store errors out of a repository method.

    A unique-key violation is a DuplicateKey; any other integrity violation is a bug in the
    caller and surfaces as a plain StoreError. Everything the database or the network can
    throw otherwise (lost connection, timeout, locked database, missing table) means the
    store cannot serve the call right now: StoreUnavailable. A value the column types refuse
    (a naive datetime) is re-raised as the ValueError it is.
    """
    try:
        yield
    except StoreError:
        raise
    except sa_exc.IntegrityError as error:
        if is_unique_violation(error):
            raise DuplicateKey(str(error.orig)) from error
        raise StoreError(f"integrity violation: {error.orig}") from error
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.DisconnectionError) as error:
        if isinstance(error, sa_exc.DataError) or _is_data_exception(error):
            raise InvalidValue(f"value refused by the database: {error}") from error
        raise StoreUnavailable(f"database error: {type(error).__name__}") from error
    except sa_exc.StatementError as error:
        # A bind processor refused a value (UTCDateTime and naive datetimes): that is the
        # caller's ValueError, not a database problem.
        if isinstance(error.orig, ValueError):
            raise error.orig from error
        raise
    except _UNREACHABLE as error:
        raise StoreUnavailable(f"database unreachable: {type(error).__name__}") from error

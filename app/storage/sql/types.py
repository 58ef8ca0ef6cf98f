"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import String, TypeDecorator, TypeEngine

from app.storage.codec import as_utc

# JSONB on PostgreSQL (binary, indexable); SQLite stores JSON as text.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database does with time zones.

    PostgreSQL keeps `timestamptz`. SQLite has no time zone type, so the value is stored as
    naive UTC text (its fixed-width format sorts and compares correctly) and made aware again
    on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class fold_case(GenericFunction[str]):
    """Case folding for case-insensitive comparisons.

    SQLite's built-in lower() only folds ASCII ("MÜNCHEN" stays "MüNCHEN"), so on SQLite it
    calls `py_lower`, Python's str.lower registered on every connection (see engine.py).
    PostgreSQL's lower() is Unicode-aware.
    """

    type = String()
    inherit_cache = True
    name = "fold_case"


@compiles(fold_case)
def _fold_case_default(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(fold_case, "sqlite")
def _fold_case_sqlite(element: fold_case, compiler: SQLCompiler, **kw: Any) -> str:
    return f"py_lower({compiler.process(element.clauses, **kw)})"

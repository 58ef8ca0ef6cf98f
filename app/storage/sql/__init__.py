"""SQL backend of the durable store: SQLAlchemy 2 async over SQLite or PostgreSQL."""

from app.storage.sql.store import SqlStore

__all__ = ["SqlStore"]

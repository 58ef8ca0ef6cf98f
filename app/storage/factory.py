"""Pick and build the store backend from settings (the only place that names backends)."""

from __future__ import annotations

from app.settings import Settings
from app.storage.ports import Store


def build_store(settings: Settings) -> Store:
    if settings.store == "sql":
        from app.storage.sql.store import SqlStore

        return SqlStore(
            settings.database_url,
            echo=settings.sql_echo,
            pool_size=settings.database_pool_size,
            auto_migrate=settings.db_auto_migrate,
        )
    if settings.store == "mongo":
        from app.storage.mongo.store import MongoStore

        return MongoStore(settings.mongo_url, settings.mongo_db)
    from app.storage.dynamo.store import DynamoStore

    return DynamoStore(
        endpoint=settings.dynamodb_endpoint,
        region=settings.aws_region,
        table_prefix=settings.dynamodb_table_prefix,
    )

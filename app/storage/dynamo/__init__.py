"""DynamoDB backend of the durable store (aioboto3); the table design is in docs/dynamodb.md."""

from app.storage.dynamo.store import DynamoStore
from app.storage.dynamo.tables import create_tables

__all__ = ["DynamoStore", "create_tables"]

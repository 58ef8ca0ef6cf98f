"""MongoDB backend of the durable store: PyMongo's native async client, replica set required."""

from app.storage.mongo.store import MongoStore

__all__ = ["MongoStore"]

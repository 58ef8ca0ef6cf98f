"""What every repository shares: the client, the database's collections, their names."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection

from app.storage.mongo.codec import Document

USERS = "users"
REFRESH_TOKENS = "refresh_tokens"
CONCERTS = "concerts"
ORDERS = "orders"
SEAT_SALES = "seat_sales"
TICKETS = "tickets"
PAYMENT_EVENTS = "payment_events"

# Acknowledged by a majority of the replica set: a write that confirms a booking (a seat
# sale, an order transition, the webhook event that drove it) survives a failover. With
# w:1 a new primary can roll back what the old one acknowledged.
MAJORITY = WriteConcern("majority")


class MongoDatabase:
    def __init__(self, client: AsyncMongoClient[Document], db_name: str) -> None:
        self.client = client
        database = client.get_database(db_name)
        self.database = database
        self.users: AsyncCollection[Document] = database[USERS]
        self.refresh_tokens: AsyncCollection[Document] = database[REFRESH_TOKENS]
        self.concerts: AsyncCollection[Document] = database[CONCERTS]
        self.orders = database.get_collection(ORDERS, write_concern=MAJORITY)
        self.seat_sales = database.get_collection(SEAT_SALES, write_concern=MAJORITY)
        self.tickets: AsyncCollection[Document] = database[TICKETS]
        self.payment_events = database.get_collection(PAYMENT_EVENTS, write_concern=MAJORITY)

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.database[name]


def unique(items: Iterable[str]) -> list[str]:
    """Distinct items, first occurrence order kept."""
    return list(dict.fromkeys(items))

"""What every repository shares: the client, the database's collections, their names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection

from app.storage.mongo.codec import Document
from app.storage.mongo.translate import translated_errors

R = TypeVar("R")

USERS = "users"
REFRESH_TOKENS = "refresh_tokens"
CONCERTS = "concerts"
ORDERS = "orders"
SEAT_SALES = "seat_sales"
TICKETS = "tickets"
PAYMENT_EVENTS = "payment_events"
LOTTERY_REGISTRATIONS = "lottery_registrations"

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
        # A registration is a fan's entry in a draw that must come out the same after a
        # failover: acknowledged by a majority too.
        self.lottery_registrations = database.get_collection(
            LOTTERY_REGISTRATIONS, write_concern=MAJORITY
        )

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.database[name]


async def insert(collection: AsyncCollection[Document], doc: Document) -> None:
    with translated_errors():
        await collection.insert_one(doc)


async def find_one(
    collection: AsyncCollection[Document], query: Document, build: Callable[[Document], R]
) -> R | None:
    """The record of the first document matching `query`; None if there is none."""
    with translated_errors():
        doc = await collection.find_one(query)
    return build(doc) if doc else None


async def find_all(
    collection: AsyncCollection[Document],
    query: Document,
    build: Callable[[Document], R],
    **options: Any,
) -> list[R]:
    """The records of every document matching `query` (`options`: sort, limit...)."""
    with translated_errors():
        docs = await collection.find(query, **options).to_list()
    return [build(d) for d in docs]

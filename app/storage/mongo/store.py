"""MongoStore: the MongoDB backend of the durable store (a replica set: transactions)."""

from __future__ import annotations

import pymongo

from app.storage.backend import PING_TIMEOUT_SECONDS, StoreBackend
from app.storage.errors import StoreError
from app.storage.mongo.client import build_client
from app.storage.mongo.concerts import MongoConcertRepository
from app.storage.mongo.db import MongoDatabase
from app.storage.mongo.indexes import ensure_indexes
from app.storage.mongo.lottery import MongoLotteryRegistrationRepository
from app.storage.mongo.orders import MongoOrderRepository
from app.storage.mongo.sales import MongoSaleRepository
from app.storage.mongo.tickets import MongoPaymentEventRepository, MongoTicketRepository
from app.storage.mongo.translate import translated_errors
from app.storage.mongo.users import MongoRefreshTokenRepository, MongoUserRepository


class MongoStore(StoreBackend):
    """Implements `app.storage.ports.Store` over PyMongo's native async client."""

    server = "MongoDB"

    def __init__(self, url: str, db_name: str) -> None:
        self._client = build_client(url)
        self._db = db = MongoDatabase(self._client, db_name)
        super().__init__(
            users=MongoUserRepository(db),
            refresh_tokens=MongoRefreshTokenRepository(db),
            concerts=MongoConcertRepository(db),
            orders=MongoOrderRepository(db),
            sales=MongoSaleRepository(db),
            tickets=MongoTicketRepository(db),
            payment_events=MongoPaymentEventRepository(db),
            lottery_registrations=MongoLotteryRegistrationRepository(db),
        )

    async def initialize(self) -> None:
        with translated_errors():
            await self._require_transactions()
            await ensure_indexes(self._db)

    async def _require_transactions(self) -> None:
        """Seat claims need multi-document transactions, which a standalone mongod refuses.
        Fail at startup with the reason rather than on the first sale."""
        hello = await self._client.admin.command("hello")
        if hello.get("setName") or hello.get("msg") == "isdbgrid":
            return
        raise StoreError(
            "MongoDB is a standalone server, but the store needs transactions: run it as a "
            "replica set (a single node is fine: mongod --replSet rs0, then rs.initiate()) "
            "and name it in MONGO_URL (?replicaSet=rs0)."
        )

    async def _answer(self) -> None:
        # The driver's own deadline (server selection included), not a cancellation from
        # outside, which could abandon a half-open connection.
        with pymongo.timeout(PING_TIMEOUT_SECONDS):
            await self._client.admin.command("ping")

    async def close(self) -> None:
        await self._client.close()

"""MongoStore: the MongoDB backend of the durable store (a replica set: transactions)."""

from __future__ import annotations

import pymongo

from app.storage.errors import StoreError, StoreUnavailable
from app.storage.mongo.client import build_client
from app.storage.mongo.concerts import MongoConcertRepository
from app.storage.mongo.db import MongoDatabase
from app.storage.mongo.indexes import ensure_indexes
from app.storage.mongo.orders import MongoOrderRepository
from app.storage.mongo.sales import MongoSaleRepository
from app.storage.mongo.tickets import MongoPaymentEventRepository, MongoTicketRepository
from app.storage.mongo.translate import translated_errors
from app.storage.mongo.users import MongoRefreshTokenRepository, MongoUserRepository
from app.storage.ports import (
    ConcertRepository,
    OrderRepository,
    PaymentEventRepository,
    RefreshTokenRepository,
    SaleRepository,
    TicketRepository,
    UserRepository,
)

PING_TIMEOUT_SECONDS = 2.0


class MongoStore:
    """Implements `app.storage.ports.Store` over PyMongo's native async client."""

    def __init__(self, url: str, db_name: str) -> None:
        self._client = build_client(url)
        self._db = MongoDatabase(self._client, db_name)
        # Annotated with the port types: Store's attributes are plain (mutable) protocol
        # members, which mypy matches invariantly.
        self.users: UserRepository = MongoUserRepository(self._db)
        self.refresh_tokens: RefreshTokenRepository = MongoRefreshTokenRepository(self._db)
        self.concerts: ConcertRepository = MongoConcertRepository(self._db)
        self.orders: OrderRepository = MongoOrderRepository(self._db)
        self.sales: SaleRepository = MongoSaleRepository(self._db)
        self.tickets: TicketRepository = MongoTicketRepository(self._db)
        self.payment_events: PaymentEventRepository = MongoPaymentEventRepository(self._db)

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

    async def ping(self) -> None:
        try:
            # The driver's own deadline (server selection included), not a cancellation
            # from outside, which could abandon a half-open connection.
            with pymongo.timeout(PING_TIMEOUT_SECONDS):
                await self._client.admin.command("ping")
        except Exception as error:
            # A health check: whatever went wrong, the answer is "not available".
            raise StoreUnavailable(f"MongoDB did not answer: {type(error).__name__}") from error

    async def close(self) -> None:
        await self._client.close()

"""DynamoStore: the DynamoDB backend of the durable store (AWS, DynamoDB Local, moto)."""

from __future__ import annotations

import asyncio

from app.storage.dynamo.client import Dynamo
from app.storage.dynamo.concerts import DynamoConcertRepository
from app.storage.dynamo.orders import DynamoOrderRepository
from app.storage.dynamo.sales import DynamoSaleRepository
from app.storage.dynamo.tables import USERS, ensure_tables
from app.storage.dynamo.tickets import DynamoPaymentEventRepository, DynamoTicketRepository
from app.storage.dynamo.users import DynamoRefreshTokenRepository, DynamoUserRepository
from app.storage.errors import StoreUnavailable
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


class DynamoStore:
    """Implements `app.storage.ports.Store` over one aioboto3 DynamoDB client.

    `endpoint` None means AWS itself (credentials from the usual AWS chain); a URL points at
    DynamoDB Local or moto. Every table name starts with `table_prefix`, so several
    deployments (or test runs) can share an account.
    """

    def __init__(self, *, endpoint: str | None, region: str, table_prefix: str) -> None:
        self._db = Dynamo(endpoint=endpoint, region=region, table_prefix=table_prefix)
        # Annotated with the port types: Store's attributes are plain (mutable) protocol
        # members, which mypy matches invariantly.
        self.users: UserRepository = DynamoUserRepository(self._db)
        self.refresh_tokens: RefreshTokenRepository = DynamoRefreshTokenRepository(self._db)
        self.concerts: ConcertRepository = DynamoConcertRepository(self._db)
        self.orders: OrderRepository = DynamoOrderRepository(self._db)
        self.sales: SaleRepository = DynamoSaleRepository(self._db)
        self.tickets: TicketRepository = DynamoTicketRepository(self._db)
        self.payment_events: PaymentEventRepository = DynamoPaymentEventRepository(self._db)

    async def initialize(self) -> None:
        """Create the missing tables and wait until they are ACTIVE (idempotent)."""
        await ensure_tables(self._db)

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                client = await self._db.client()
                await client.describe_table(TableName=self._db.table(USERS.name))
        except Exception as error:
            # A health check: whatever went wrong, the answer is "not available".
            raise StoreUnavailable(f"DynamoDB did not answer: {type(error).__name__}") from error

    async def close(self) -> None:
        await self._db.close()

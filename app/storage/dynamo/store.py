"""DynamoStore: the DynamoDB backend of the durable store (AWS, DynamoDB Local, moto)."""

from __future__ import annotations

import asyncio

from app.storage.backend import PING_TIMEOUT_SECONDS, StoreBackend
from app.storage.dynamo.client import Dynamo
from app.storage.dynamo.concerts import DynamoConcertRepository
from app.storage.dynamo.lottery import DynamoLotteryRegistrationRepository
from app.storage.dynamo.orders import DynamoOrderRepository
from app.storage.dynamo.sales import DynamoSaleRepository
from app.storage.dynamo.tables import USERS, ensure_tables
from app.storage.dynamo.tickets import DynamoPaymentEventRepository, DynamoTicketRepository
from app.storage.dynamo.users import DynamoRefreshTokenRepository, DynamoUserRepository


class DynamoStore(StoreBackend):
    """Implements `app.storage.ports.Store` over one aioboto3 DynamoDB client.

    `endpoint` None means AWS itself (credentials from the usual AWS chain); a URL points at
    DynamoDB Local or moto. Every table name starts with `table_prefix`, so several
    deployments (or test runs) can share an account.
    """

    server = "DynamoDB"

    def __init__(self, *, endpoint: str | None, region: str, table_prefix: str) -> None:
        self._db = db = Dynamo(endpoint=endpoint, region=region, table_prefix=table_prefix)
        super().__init__(
            users=DynamoUserRepository(db),
            refresh_tokens=DynamoRefreshTokenRepository(db),
            concerts=DynamoConcertRepository(db),
            orders=DynamoOrderRepository(db),
            sales=DynamoSaleRepository(db),
            tickets=DynamoTicketRepository(db),
            payment_events=DynamoPaymentEventRepository(db),
            lottery_registrations=DynamoLotteryRegistrationRepository(db),
        )

    async def initialize(self) -> None:
        """Create the missing tables and wait until they are ACTIVE (idempotent)."""
        await ensure_tables(self._db)

    async def _answer(self) -> None:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            client = await self._db.client()
            await client.describe_table(TableName=self._db.table(USERS.name))

    async def close(self) -> None:
        await self._db.close()

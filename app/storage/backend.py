"""What every backend's store shares: its repositories under the port types, and a health
check that answers StoreUnavailable whatever went wrong."""

from __future__ import annotations

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


class StoreBackend:
    """Base of SqlStore, MongoStore and DynamoStore (each implements `ports.Store`)."""

    server = "the store"  # how a failed ping names what did not answer

    def __init__(
        self,
        *,
        users: UserRepository,
        refresh_tokens: RefreshTokenRepository,
        concerts: ConcertRepository,
        orders: OrderRepository,
        sales: SaleRepository,
        tickets: TicketRepository,
        payment_events: PaymentEventRepository,
    ) -> None:
        # Annotated with the port types: Store's attributes are plain (mutable) protocol
        # members, which mypy matches invariantly.
        self.users: UserRepository = users
        self.refresh_tokens: RefreshTokenRepository = refresh_tokens
        self.concerts: ConcertRepository = concerts
        self.orders: OrderRepository = orders
        self.sales: SaleRepository = sales
        self.tickets: TicketRepository = tickets
        self.payment_events: PaymentEventRepository = payment_events

    async def ping(self) -> None:
        try:
            await self._answer()
        except Exception as error:
            # A health check: whatever went wrong, the answer is "not available".
            raise StoreUnavailable(
                f"{self.server} did not answer: {type(error).__name__}"
            ) from error

    async def _answer(self) -> None:
        """One round trip to the server, failing after PING_TIMEOUT_SECONDS."""
        raise NotImplementedError

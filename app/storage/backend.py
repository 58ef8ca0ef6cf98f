"""What every backend's store shares: its repositories under the port types, a health check
that answers StoreUnavailable whatever went wrong, and the small helpers of its methods."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from app.storage.errors import StoreUnavailable
from app.storage.ports import (
    ConcertRepository,
    LotteryRegistrationRepository,
    OrderRepository,
    PaymentEventRepository,
    RefreshTokenRepository,
    SaleRepository,
    TicketRepository,
    UserRepository,
)
from app.storage.records import Ticket

PING_TIMEOUT_SECONDS = 2.0

T = TypeVar("T")


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
        lottery_registrations: LotteryRegistrationRepository,
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
        self.lottery_registrations: LotteryRegistrationRepository = lottery_registrations

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


def unique(items: Iterable[T]) -> list[T]:
    """Distinct items, first occurrence order kept."""
    return list(dict.fromkeys(items))


def by_order_then_seat(tickets: Iterable[Ticket], order_ids: list[str]) -> list[Ticket]:
    """Tickets grouped by order in the order of `order_ids` (distinct), seats in layout
    order within an order (TicketRepository.list_for_orders)."""
    position = {order_id: k for k, order_id in enumerate(order_ids)}
    return sorted(tickets, key=lambda t: (position[t.order_id], t.section, t.row, t.number))

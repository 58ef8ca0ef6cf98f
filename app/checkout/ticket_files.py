"""What the ticket files (the PDF, the .ics) and the buyer's mails are made from: an order with
its concert, its tickets and its buyer, read from the store once; seats and times in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from app.storage.ports import Store
from app.storage.records import Concert, Order, Ticket, User


@dataclass(frozen=True, slots=True)
class TicketBundle:
    order: Order
    concert: Concert
    tickets: tuple[Ticket, ...]  # in the order's seat order; empty until the order is confirmed
    buyer: User | None  # None: the buyer has no account row (a token-only test buyer)

    @property
    def buyer_name(self) -> str:
        """The name on the tickets: the account's name, else its email address (an account
        has at least that), else its id."""
        if self.buyer is None:
            return self.order.user_id
        return self.buyer.name.strip() or self.buyer.email


async def load_bundle(store: Store, order_id: str) -> TicketBundle | None:
    """The order with its concert, tickets and buyer; None if the order (or its concert) is
    gone."""
    order = await store.orders.get(order_id)
    if order is None:
        return None
    concert = await store.concerts.get(order.concert_id)
    if concert is None:
        return None
    # Tickets the buyer gave to someone else are theirs now (with a new code): left out.
    tickets = [
        t for t in await store.tickets.list_for_orders([order.id]) if t.user_id == order.user_id
    ]
    position = {seat_id: i for i, seat_id in enumerate(order.seat_ids)}
    ordered = sorted(tickets, key=lambda t: position.get(t.seat_id, len(position)))
    return TicketBundle(
        order=order,
        concert=concert,
        tickets=tuple(ordered),
        buyer=await store.users.get(order.user_id),
    )


def seat_words(ticket: Ticket) -> str:
    """A seat as a person reads it: "Floor, row A, seat 3"."""
    return f"{ticket.section}, row {ticket.row}, seat {ticket.number}"


def local_time(concert: Concert, at: datetime | None = None) -> datetime:
    """`at` (default: the start of the show) in the venue's time zone."""
    return (at or concert.starts_at).astimezone(ZoneInfo(concert.venue_time_zone))


def local_time_words(concert: Concert, at: datetime | None = None) -> str:
    """ "Saturday 6 June 2030, 19:30 (Europe/Amsterdam)": the venue's wall clock, which is what
    the door and the buyer's plans go by."""
    local = local_time(concert, at)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} ({concert.venue_time_zone})"


def venue_words(concert: Concert) -> str:
    return ", ".join(part for part in (concert.venue_name, concert.venue_city) if part)


# Currencies whose minor unit is the unit itself (as Stripe counts them): JPY 5000 is 5000 yen.
_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)


def money_words(amount_cents: int, currency: str) -> str:
    """ "EUR 100.00", "JPY 5,000": an amount in minor units, in words."""
    if currency in _ZERO_DECIMAL:
        return f"{currency} {amount_cents:,}"
    return f"{currency} {amount_cents // 100:,}.{amount_cents % 100:02d}"

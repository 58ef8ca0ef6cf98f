"""The organiser's sales report (`GET /concerts/{id}/report.csv`): one CSV row per ticket."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from app.storage.ports import Store
from app.storage.records import Concert, Order, OrderStatus, Ticket

__all__ = ["COLUMNS", "report_filename", "sales_report"]

COLUMNS = (
    "order_id",
    "buyer_email",
    "section",
    "row",
    "seat",
    "seat_id",
    "price_cents",
    "currency",
    "status",
    "paid_at",
    "refunded_at",
    "checked_in_at",
)

# Orders that issued tickets: confirmed ones, and refunded ones (their tickets revoked).
_TICKETED = (OrderStatus.CONFIRMED, OrderStatus.REFUNDED)
# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): kept as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def sales_report(store: Store, concert: Concert) -> str:
    """Every ticket the concert's orders issued, by order then seat: who bought it, where, for
    how much, and whether it is valid, checked in or refunded."""
    orders = {o.id: o for o in await store.orders.list_for_concert(concert.id, _TICKETED)}
    tickets = await store.tickets.list_for_orders(list(orders)) if orders else []
    emails: dict[str, str] = {}
    for user_id in sorted({o.user_id for o in orders.values()}):
        user = await store.users.get(user_id)
        emails[user_id] = user.email if user is not None else ""
    prices = {
        seat: section.price_cents
        for section in concert.sections
        for row in section.rows
        for seat in row.seat_ids
    }
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for ticket in sorted(tickets, key=lambda t: (orders[t.order_id].created_at, t.order_id)):
        order = orders[ticket.order_id]
        writer.writerow(
            _text(cell)
            for cell in (
                order.id,
                emails.get(order.user_id, ""),
                ticket.section,
                ticket.row,
                ticket.number,
                ticket.seat_id,
                prices.get(ticket.seat_id, ""),
                order.currency,
                _status(order, ticket),
                _when(order, OrderStatus.CONFIRMED),
                _when(order, OrderStatus.REFUNDED),
                _iso(ticket.checked_in_at),
            )
        )
    return out.getvalue()


def _status(order: Order, ticket: Ticket) -> str:
    if order.status is OrderStatus.REFUNDED:
        return "refunded"
    return "checked_in" if ticket.checked_in_at is not None else "valid"


def _when(order: Order, status: OrderStatus) -> str:
    """When the order entered `status` (its history), or empty."""
    return next((_iso(t.at) for t in order.history if t.to_status is status), "")


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def _text(cell: object) -> str:
    text = str(cell)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def report_filename(concert: Concert) -> str:
    return f"sales-{concert.id}.csv"

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from app.schemas import RequestBody, ResponseBody

OrderStatusName = Literal[
    "pending_payment", "confirmed", "expired", "cancelled", "failed", "refunded"
]


class CheckoutRequest(RequestBody):
    hold_id: str = Field(min_length=3, max_length=200)


class TicketRead(ResponseBody):
    id: str
    order_id: str
    concert_id: str
    seat_id: str
    section: str
    row: str
    number: int
    code: str = Field(
        description="Signed; the door checks it in once (POST /concerts/{id}/check-ins)."
    )
    issued_at: AwareDatetime
    checked_in_at: AwareDatetime | None = Field(
        default=None, description="When it was first scanned at the door; null before."
    )


class OrderRead(ResponseBody):
    id: str
    concert_id: str
    seat_ids: list[str]
    amount_cents: int
    currency: str
    status: OrderStatusName
    created_at: AwareDatetime
    expires_at: AwareDatetime
    payment_intent_id: str | None
    tickets: list[TicketRead]
    tickets_given: int = Field(
        default=0,
        description="How many of its tickets the buyer gave to someone else (not listed).",
    )


class PaymentRead(ResponseBody):
    provider: Literal["stripe", "simulated"]
    payment_intent_id: str
    client_secret: str
    publishable_key: str | None = None
    confirm_path: str | None = Field(
        default=None,
        description="The simulated provider's pay button (POST it with {outcome}); null with "
        "Stripe, whose Payment Element confirms the intent with `client_secret`.",
    )


class CheckoutResult(ResponseBody):
    order: OrderRead
    payment: PaymentRead


class OrderList(ResponseBody):
    items: list[OrderRead]


class TicketList(ResponseBody):
    items: list[TicketRead]

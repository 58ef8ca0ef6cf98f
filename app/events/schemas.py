"""The domain events, envelope version 1: one model per event type.

On the stream an event is one entry with three fields: `v` (envelope version), `type` and
`data` (JSON of every other field). The entry id is the event's `id`. Within v1 fields may be
added, never removed or renamed, so readers ignore fields they don't know (extra="ignore").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.storage.records import Order

ENVELOPE_VERSION: Final = 1

ReleaseReason = Literal[
    "released",  # the buyer gave the hold back
    "expired",  # the hold lapsed (reported by the expiry sweeper)
    "checkout_cancelled",  # its order was cancelled (by the buyer or at the payment provider)
    "payment_failed",  # its order's payment failed
    "order_expired",  # its order's payment window ended
    "order_refunded",  # its order was refunded: sold seats (or a leftover hold) back on sale
]


def _now() -> datetime:
    return datetime.now(UTC)


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # The stream entry id: set on events read from the stream, None before publishing.
    id: str | None = None
    v: Literal[1] = ENVELOPE_VERSION
    type: str
    occurred_at: AwareDatetime = Field(default_factory=_now)
    concert_id: str


class SeatHeld(DomainEvent):
    type: Literal["seat.held"] = "seat.held"
    hold_id: str
    user_id: str
    seat_ids: list[str]
    expires_at: AwareDatetime
    amount_cents: int
    currency: str


class SeatReleased(DomainEvent):
    """Seats back on sale: a hold ended without a sale, or a refunded order's sold seats."""

    type: Literal["seat.released"] = "seat.released"
    hold_id: str
    user_id: str
    seat_ids: list[str]
    reason: ReleaseReason
    order_id: str | None = None


class SeatSold(DomainEvent):
    type: Literal["seat.sold"] = "seat.sold"
    order_id: str
    hold_id: str
    user_id: str
    seat_ids: list[str]


class OrderEvent(DomainEvent):
    """The fields every order event carries: the order as it is after the change."""

    order_id: str
    hold_id: str
    user_id: str
    seat_ids: list[str]
    amount_cents: int
    currency: str
    payment_intent_id: str | None

    @classmethod
    def of(cls, order: Order, **fields: Any) -> Self:
        return cls(
            concert_id=order.concert_id,
            order_id=order.id,
            hold_id=order.hold_id,
            user_id=order.user_id,
            seat_ids=list(order.seat_ids),
            amount_cents=order.amount_cents,
            currency=order.currency,
            payment_intent_id=order.payment_intent_id,
            **fields,
        )


class OrderCreated(OrderEvent):
    type: Literal["order.created"] = "order.created"
    expires_at: AwareDatetime  # the end of the payment window


class OrderConfirmed(OrderEvent):
    type: Literal["order.confirmed"] = "order.confirmed"
    ticket_ids: list[str]
    late: bool = False  # paid after the hold had lapsed; the seats were re-claimed


class OrderExpired(OrderEvent):
    type: Literal["order.expired"] = "order.expired"


class OrderCancelled(OrderEvent):
    type: Literal["order.cancelled"] = "order.cancelled"
    by: Literal["buyer", "provider", "organiser"]


class OrderFailed(OrderEvent):
    type: Literal["order.failed"] = "order.failed"


# charge_refunded: a confirmed order refunded at the provider (its dashboard); organiser: a
# confirmed order refunded through POST /orders/{id}/refund; seats_taken: paid after the hold
# lapsed and the seats were sold meanwhile, so the payment was given back; over_limit: paid late,
# when the buyer had meanwhile taken other seats up to the concert's per-buyer cap.
RefundReason = Literal[
    "charge_refunded", "organiser", "seats_taken", "over_limit", "concert_cancelled"
]


class OrderRefunded(OrderEvent):
    type: Literal["order.refunded"] = "order.refunded"
    reason: RefundReason


class TicketTransferred(DomainEvent):
    """A sold ticket was given to another account (POST /tickets/{id}/transfer): it was signed
    again for them, and its old code no longer admits."""

    type: Literal["ticket.transferred"] = "ticket.transferred"
    ticket_id: str
    order_id: str
    seat_id: str
    from_user_id: str
    to_user_id: str


class LotteryDrawn(DomainEvent):
    """A concert's presale lottery was drawn (once per concert): winners and losers are
    mailed (app/mail/lottery.py), reading the draw from Redis."""

    type: Literal["lottery.drawn"] = "lottery.drawn"
    entries: int
    winners: int  # drawn: min(the configured winners, entries)
    window_ends_at: AwareDatetime  # the winners' window: then the waitlist's turn


class EmailVerificationRequested(DomainEvent):
    """An account asked for an email verification link (at signup, or again): the mail
    consumer mints the link and mails it to the account's current address, once per
    `request_id` (app/mail/verification.py). No address or token travels on the stream.
    `concert_id` is empty: this is about an account, not a concert."""

    type: Literal["email.verification_requested"] = "email.verification_requested"
    concert_id: str = ""
    user_id: str
    request_id: str


AnyEvent = Annotated[
    SeatHeld
    | SeatReleased
    | SeatSold
    | OrderCreated
    | OrderConfirmed
    | OrderExpired
    | OrderCancelled
    | OrderFailed
    | OrderRefunded
    | EmailVerificationRequested
    | TicketTransferred
    | LotteryDrawn,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = (
    "seat.held",
    "seat.released",
    "seat.sold",
    "order.created",
    "order.confirmed",
    "order.expired",
    "order.cancelled",
    "order.failed",
    "order.refunded",
    "ticket.transferred",
    "email.verification_requested",
    "lottery.drawn",
)
_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


class UnreadableEvent(ValueError):
    """A stream entry that is not a v1 event of a known type (or is malformed)."""


def to_fields(event: DomainEvent) -> dict[str, str]:
    """The stream entry of an event."""
    data = event.model_dump_json(exclude={"id", "v", "type"})
    return {"v": str(event.v), "type": event.type, "data": data}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def from_fields(entry_id: bytes | str, fields: dict[Any, Any]) -> DomainEvent:
    """The event of a stream entry; UnreadableEvent if it isn't one this version knows."""
    values = {_text(k): _text(v) for k, v in fields.items()}
    if values.get("v") != str(ENVELOPE_VERSION) or values.get("type") not in EVENT_TYPES:
        raise UnreadableEvent(
            f"not a v{ENVELOPE_VERSION} event: {values.get('v')}/{values.get('type')}"
        )
    try:
        data = json.loads(values.get("data", ""))
    except json.JSONDecodeError as exc:
        raise UnreadableEvent(f"data is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UnreadableEvent("data is not a JSON object")
    try:
        event: DomainEvent = _ADAPTER.validate_python(
            {**data, "id": _text(entry_id), "v": ENVELOPE_VERSION, "type": values["type"]}
        )
    except ValidationError as exc:
        raise UnreadableEvent(str(exc)) from exc
    return event

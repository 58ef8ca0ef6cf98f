"""The order state machine: every legal transition, in one table.

    hold --checkout--> PENDING_PAYMENT --payment succeeded--> CONFIRMED --refund--> REFUNDED
                          |--payment failed--> FAILED
                          |--cancel (buyer or provider)--> CANCELLED
                          |--payment window over--> EXPIRED
    EXPIRED / CANCELLED / FAILED --late payment--> CONFIRMED (seats re-claimed)
                                               or REFUNDED (seats gone: refunded once)

Anything else is refused. Payment events that arrive late or out of order therefore never move
an order backwards: e.g. a `payment_failed` after CONFIRMED finds no row here and is ignored.
"""

from __future__ import annotations

from enum import StrEnum

from app.checkout.errors import InvalidOrderTransition
from app.storage.records import OrderStatus

S = OrderStatus


class Event(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REFUND = "refund"  # a refund of a confirmed order (charge.refunded)
    SEATS_LOST = "seats_lost"  # paid, but the seats were sold to someone else: refunded


TRANSITIONS: dict[tuple[OrderStatus, Event], OrderStatus] = {
    (S.PENDING_PAYMENT, Event.PAYMENT_SUCCEEDED): S.CONFIRMED,
    (S.PENDING_PAYMENT, Event.PAYMENT_FAILED): S.FAILED,
    (S.PENDING_PAYMENT, Event.CANCEL): S.CANCELLED,
    (S.PENDING_PAYMENT, Event.EXPIRE): S.EXPIRED,
    (S.PENDING_PAYMENT, Event.SEATS_LOST): S.REFUNDED,
    (S.CONFIRMED, Event.REFUND): S.REFUNDED,
    **{
        (lapsed, Event.PAYMENT_SUCCEEDED): S.CONFIRMED
        for lapsed in (S.EXPIRED, S.CANCELLED, S.FAILED)
    },
    **{(lapsed, Event.SEATS_LOST): S.REFUNDED for lapsed in (S.EXPIRED, S.CANCELLED, S.FAILED)},
}


def next_status(current: OrderStatus, event: Event) -> OrderStatus:
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise InvalidOrderTransition(
            f"An order that is {current.value} can't take '{event.value}'.",
            status=current.value,
        ) from None


def allows(current: OrderStatus, event: Event) -> bool:
    return (current, event) in TRANSITIONS

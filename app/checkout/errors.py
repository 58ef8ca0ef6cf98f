from __future__ import annotations

from app.errors import Conflict, NotFound


class InvalidOrderTransition(Conflict):
    detail = "The order can't change that way in its current state."


class OrderNotFound(NotFound):
    detail = "No such order (or it is not yours)."


class OrderNotPayable(Conflict):
    """The order is no longer waiting for payment (or its payment window is over, or its
    payment is already going through): there is nothing left to pay."""

    detail = "This order can no longer be paid."


class TicketsNotIssued(Conflict):
    """The order has no tickets to print: not paid (yet), or refunded (its tickets are void)."""

    detail = "This order has no tickets yet: they are issued once it is paid."

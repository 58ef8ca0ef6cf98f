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


class TicketNotFound(NotFound):
    detail = "No such ticket (or it is not yours)."


class UserNotFound(NotFound):
    """The address a ticket is given to has no account here."""

    detail = "Nobody has an account with this email address: ask them to sign up first."


class TicketNotTransferable(Conflict):
    """The ticket can't be given away now; `reason` says why (refunded, checked_in, started,
    cancelled, changed)."""

    detail = "This ticket can't be given to someone else now."


class ReceiverOverLimit(Conflict):
    """The receiver already has (held, waiting for payment, bought or received) as many
    tickets for this concert as one buyer may have; `limit` and `already` say how many."""

    detail = "They already have as many tickets for this concert as one buyer may."


class TicketsNotIssued(Conflict):
    """The order has no tickets to print: not paid (yet), or refunded (its tickets are void)."""

    detail = "This order has no tickets yet: they are issued once it is paid."

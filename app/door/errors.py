"""What a door scan can answer besides "admit". Details are written for the door person."""

from __future__ import annotations

from app.errors import AppError, Conflict


class InvalidTicket(AppError):
    """422: not a code we issued, or one for another concert."""

    status_code = 422
    detail = "This is not a valid ticket for this concert: do not admit."


class AlreadyCheckedIn(Conflict):
    """409: the ticket was scanned in before; `checked_in_at` says when."""

    detail = "This ticket was already used to enter: do not admit again."


class TicketRevoked(Conflict):
    """409: the ticket's order is no longer confirmed (refunded, cancelled); `reason` says which."""

    detail = "This ticket is no longer valid: do not admit."

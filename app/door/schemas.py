from __future__ import annotations

from pydantic import AwareDatetime, Field

from app.errors import ErrorBody
from app.schemas import RequestBody, ResponseBody


class CheckInRequest(RequestBody):
    code: str = Field(
        min_length=1,
        max_length=4096,
        description="The ticket code as scanned (the QR code of a ticket).",
    )


class CheckInRead(ResponseBody):
    """Admitted: the first scan of a valid ticket of this concert."""

    ticket_id: str
    order_id: str
    seat_id: str
    section: str
    row: str
    number: int
    holder_name: str | None = Field(
        description="The buyer's account name, to compare with an ID if asked (null if unknown)."
    )
    checked_in_at: AwareDatetime


class CheckInRefused(ErrorBody):
    """409 AlreadyCheckedIn (with the first scan's time) or TicketRevoked (with the reason)."""

    ticket_id: str | None = None
    seat_id: str | None = None
    checked_in_at: AwareDatetime | None = Field(
        default=None, description="AlreadyCheckedIn: when the ticket was first scanned."
    )
    reason: str | None = Field(
        default=None, description="TicketRevoked: the order's status, e.g. `refunded`."
    )

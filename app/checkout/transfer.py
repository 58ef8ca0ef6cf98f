"""Giving a ticket to another account, at face value: no price, no marketplace.

`POST /tickets/{id}/transfer {email}` (the ticket's holder only):
1. The ticket must be the caller's (else 404 TicketNotFound, as for one that doesn't exist),
   its order confirmed, not scanned at the door, the concert not cancelled and the show not
   started (409 TicketNotTransferable, `reason` refunded / checked_in / cancelled / started).
   The receiver must have an account (404 UserNotFound) and not be the caller (422).
2. The receiver's cap: the ticket counts toward the concert's `max_tickets_per_user` for the
   receiver like a seat they bought. The seat engine's per-buyer count (Redis, the same
   number holds check) is raised by one with the check in one Lua script (receive.lua), so a
   hold of theirs and a transfer to them racing cannot both pass the cap (409
   ReceiverOverLimit). The giver's count is not lowered: what they bought still counts
   against them, so buying the cap, giving it away and buying again is refused. A rebuild of
   the seat state counts received tickets again (app/seats/state.py).
3. The store gives the ticket to the receiver with a new code in one conditional write
   (TicketRepository.transfer): still the caller's, not checked in. Of racing transfers (or a
   transfer and a first scan) one wins; a loser undoes its count and gets 409 `changed`.
4. The door compares a scanned code with the stored one: the old code is refused (409
   TicketRevoked, reason `transferred`), the new one admits. `ticket.transferred` is published;
   the mail consumer sends the receiver the ticket (app/mail).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from pydantic import EmailStr, Field

from app.auth.emails import lookup_forms
from app.checkout.errors import (
    ReceiverOverLimit,
    TicketNotFound,
    TicketNotTransferable,
    UserNotFound,
)
from app.checkout.tickets import TicketSigner
from app.concerts.service import Concerts
from app.errors import ValidationError
from app.events.publisher import EventPublisher
from app.events.schemas import TicketTransferred
from app.schemas import RequestBody, ResponseBody
from app.seats.state import SeatState
from app.storage.errors import RecordNotFound, VersionConflict
from app.storage.ports import Store
from app.storage.records import OrderStatus, Ticket, User

log = logging.getLogger(__name__)


class TransferRequest(RequestBody):
    email: EmailStr = Field(max_length=254, description="The receiver's account's address.")


class TransferRead(ResponseBody):
    """The ticket as given (without its new code: that is the receiver's)."""

    ticket_id: str
    order_id: str
    concert_id: str
    seat_id: str
    section: str
    row: str
    number: int
    to_email: str
    to_name: str


class TicketTransfers:
    def __init__(
        self,
        store: Store,
        concerts: Concerts,
        seats: SeatState,
        signer: TicketSigner,
        events: EventPublisher,
    ) -> None:
        self._store = store
        self._concerts = concerts
        self._seats = seats
        self._signer = signer
        self._events = events

    async def transfer(self, user_id: str, ticket_id: str, email: str) -> TransferRead:
        ticket = next(
            (t for t in await self._store.tickets.list_for_user(user_id) if t.id == ticket_id),
            None,
        )
        if ticket is None:
            raise TicketNotFound()
        order = await self._store.orders.get(ticket.order_id)
        if order is None or order.status is not OrderStatus.CONFIRMED:
            status = order.status.value if order else "gone"
            raise TicketNotTransferable(
                f"This ticket's order is {status.replace('_', ' ')}: the ticket no longer "
                "admits anyone, so it can't be given away.",
                reason="refunded" if order and order.status is OrderStatus.REFUNDED else status,
            )
        if ticket.checked_in_at is not None:
            raise TicketNotTransferable(
                "This ticket was already used to enter, so it can't be given away.",
                reason="checked_in",
            )
        concert = await self._concerts.load(ticket.concert_id)
        if concert.cancelled_at is not None:
            raise TicketNotTransferable(
                "This concert was cancelled: its tickets are being refunded, not given away.",
                reason="cancelled",
            )
        if datetime.now(UTC) >= concert.starts_at:
            raise TicketNotTransferable(
                "The show has started: tickets can no longer be given away.", reason="started"
            )
        receiver = await self._receiver(email)
        if receiver.id == user_id:
            raise ValidationError("email", "That is your own address: the ticket is yours.")

        over = await self._seats.run(
            concert,
            lambda: self._seats.engine.receive(
                concert.id, receiver.id, concert.max_tickets_per_user
            ),
        )
        if over is not None:
            raise ReceiverOverLimit(
                f"They already have {over.already} of the {concert.max_tickets_per_user} "
                "tickets one buyer may have for this concert, so they can't take another.",
                limit=concert.max_tickets_per_user,
                already=over.already,
            )
        code = self._signer.sign(
            ticket.id,
            ticket.order_id,
            ticket.concert_id,
            ticket.seat_id,
            nonce=secrets.token_hex(8),
        )
        try:
            given = await self._store.tickets.transfer(
                ticket.order_id, ticket.seat_id, user_id, receiver.id, code
            )
        except (VersionConflict, RecordNotFound):
            await self._uncount(concert.id, receiver.id)
            raise TicketNotTransferable(
                "This ticket changed meanwhile (given away or used at the door): reload it.",
                reason="changed",
            ) from None
        except BaseException:
            await self._uncount(concert.id, receiver.id)
            raise
        await self._events.publish(
            TicketTransferred(
                concert_id=given.concert_id,
                ticket_id=given.id,
                order_id=given.order_id,
                seat_id=given.seat_id,
                from_user_id=user_id,
                to_user_id=receiver.id,
            )
        )
        log.info(
            "ticket transferred",
            extra={"ticket_id": given.id, "from_user_id": user_id, "to_user_id": receiver.id},
        )
        return _read(given, receiver)

    async def _receiver(self, email: str) -> User:
        for form in lookup_forms(email):
            user = await self._store.users.get_by_email(form)
            if user is not None:
                return user
        raise UserNotFound()

    async def _uncount(self, concert_id: str, user_id: str) -> None:
        try:
            await self._seats.engine.unreceive(concert_id, user_id)
        except Exception:  # the count errs on the safe side (one too many) until a rebuild
            log.warning(
                "received ticket not uncounted",
                extra={"concert_id": concert_id, "user_id": user_id},
                exc_info=True,
            )


def _read(ticket: Ticket, receiver: User) -> TransferRead:
    return TransferRead(
        ticket_id=ticket.id,
        order_id=ticket.order_id,
        concert_id=ticket.concert_id,
        seat_id=ticket.seat_id,
        section=ticket.section,
        row=ticket.row,
        number=ticket.number,
        to_email=receiver.email,
        to_name=receiver.name,
    )

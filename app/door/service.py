"""Door check-in: is this code a valid ticket for this concert, and is this its first scan?

The order of the checks (docs/door.md):
1. The signature (TicketSigner): a forged or damaged code is 422 InvalidTicket, at no store
   cost. The signed concert must be the one in the path (another night's ticket: 422 too).
2. The store: the ticket must exist and its order be `confirmed`; a refunded or cancelled
   order's ticket is 409 TicketRevoked, whatever its signature says.
3. The first scan is decided by the store with one conditional write
   (TicketRepository.check_in): exactly one of any number of concurrent scans of a code, on
   any number of processes, is admitted; the others get 409 AlreadyCheckedIn with the first
   scan's time.
   A genuine code that is no longer the stored ticket's code is 409 TicketRevoked with
   reason `transferred`: the ticket was given to someone else and re-signed for them.
4. The order is read again after the write: a refund that landed between step 2 and the write
   is seen (an order never becomes confirmed again once refunded), so an admitted ticket's
   order was confirmed when it was checked in.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import UTC, datetime
from typing import Literal, TypeVar

import jwt
from prometheus_client import Counter
from pydantic import TypeAdapter

from app.checkout.tickets import TicketClaims, TicketSigner
from app.concerts.service import Concerts
from app.door.errors import AlreadyCheckedIn, InvalidTicket, TicketRevoked
from app.door.schemas import CheckInRead
from app.storage.errors import RecordNotFound
from app.storage.ports import Store
from app.storage.records import Order, OrderStatus, Ticket

log = logging.getLogger(__name__)

Outcome = Literal["admitted", "already_in", "revoked", "invalid"]
E = TypeVar("E", bound=Exception)

CHECK_INS = Counter("door_check_ins_total", "Ticket scans at the door, by outcome", ["outcome"])
for _outcome in ("admitted", "already_in", "revoked", "invalid"):
    CHECK_INS.labels(_outcome)  # every series exists from the start (0 until the first scan)

# Times in error bodies written as in response bodies (pydantic's JSON form).
_JSON_TIME = TypeAdapter(datetime)

_REVOKED_BECAUSE = {
    OrderStatus.REFUNDED: "This ticket was refunded: do not admit.",
    OrderStatus.CANCELLED: "This ticket's order was cancelled: do not admit.",
}


class DoorCheckIn:
    def __init__(self, store: Store, concerts: Concerts, signer: TicketSigner) -> None:
        self._store = store
        self._concerts = concerts
        self._signer = signer

    async def check_in(self, concert_id: str, code: str) -> CheckInRead:
        """Admit the holder of `code` to the concert, once. ConcertNotFound, InvalidTicket,
        TicketRevoked or AlreadyCheckedIn otherwise."""
        concert = await self._concerts.load(concert_id)
        claims = await self._claims(code, concert.id)
        order, ticket = await asyncio.gather(
            self._store.orders.get(claims.order_id),
            self._store.tickets.get(claims.order_id, claims.seat_id),
        )
        if order is not None:
            self._require_confirmed(order, claims)
        if order is None or ticket is None or not _is_the_ticket(ticket, claims):
            # Signed by us, but never stored: nothing a buyer could have been handed.
            raise self._never_issued()
        if not hmac.compare_digest(ticket.code.encode(), code.encode()):
            # Genuine, but no longer the ticket's code: it was given to someone else, who was
            # sent a new code (app/checkout/transfer.py).
            raise self._transferred(claims)
        try:
            ticket, first = await self._store.tickets.check_in(
                ticket.order_id, ticket.seat_id, datetime.now(UTC)
            )
        except RecordNotFound:
            # Gone since it was read (a refund that deletes tickets would do that).
            order = await self._store.orders.get(order.id)
            if order is not None:
                self._require_confirmed(order, claims)
            raise self._never_issued() from None
        if not first:
            raise self._already_in(ticket)
        order, holder = await asyncio.gather(
            self._store.orders.get(order.id), self._store.users.get(ticket.user_id)
        )
        if order is None:
            raise self._refuse("invalid", InvalidTicket("This ticket's order is gone."))
        self._require_confirmed(order, claims)
        CHECK_INS.labels("admitted").inc()
        return _admitted(ticket, holder.name if holder else None)

    async def _claims(self, code: str, concert_id: str) -> TicketClaims:
        try:
            claims = self._signer.verify(code)
        except (jwt.PyJWTError, ValueError):
            raise self._refuse(
                "invalid",
                InvalidTicket(
                    "Not a valid ticket code (forged, damaged or not ours): do not admit; "
                    "send the holder to the box office."
                ),
            ) from None
        if claims.concert_id != concert_id:
            other = await self._concerts.find(claims.concert_id)
            which = f" ({other.title}, {other.starts_at:%Y-%m-%d})" if other else ""
            raise self._refuse(
                "invalid",
                InvalidTicket(f"This ticket is for another concert{which}: do not admit here."),
            )
        return claims

    def _require_confirmed(self, order: Order, claims: TicketClaims) -> None:
        if order.status is OrderStatus.CONFIRMED:
            return
        detail = _REVOKED_BECAUSE.get(
            order.status, f"This ticket's order is {order.status.value}: do not admit."
        )
        log.warning(
            "revoked ticket scanned",
            extra={
                "ticket_id": claims.ticket_id,
                "order_id": order.id,
                "status": order.status.value,
            },
        )
        raise self._refuse(
            "revoked",
            TicketRevoked(
                detail,
                ticket_id=claims.ticket_id,
                seat_id=claims.seat_id,
                reason=order.status.value,
            ),
        )

    def _transferred(self, claims: TicketClaims) -> TicketRevoked:
        log.warning(
            "transferred ticket's old code scanned",
            extra={"ticket_id": claims.ticket_id, "order_id": claims.order_id},
        )
        return self._refuse(
            "revoked",
            TicketRevoked(
                "This code was replaced: its ticket was given to someone else, who has the new "
                "code. Do not admit on this one.",
                ticket_id=claims.ticket_id,
                seat_id=claims.seat_id,
                reason="transferred",
            ),
        )

    def _never_issued(self) -> InvalidTicket:
        return self._refuse("invalid", InvalidTicket("This ticket was never issued: do not admit."))

    def _already_in(self, ticket: Ticket) -> AlreadyCheckedIn:
        assert ticket.checked_in_at is not None  # check_in answered "not first"
        first = ticket.checked_in_at.astimezone(UTC)
        return self._refuse(
            "already_in",
            AlreadyCheckedIn(
                f"This ticket was already used to enter at {first:%H:%M:%S} UTC "
                f"({first:%Y-%m-%d}): do not admit again.",
                ticket_id=ticket.id,
                seat_id=ticket.seat_id,
                checked_in_at=_JSON_TIME.dump_python(first, mode="json"),
            ),
        )

    @staticmethod
    def _refuse(outcome: Outcome, error: E) -> E:
        CHECK_INS.labels(outcome).inc()
        return error


def _is_the_ticket(ticket: Ticket, claims: TicketClaims) -> bool:
    return (ticket.id, ticket.concert_id) == (claims.ticket_id, claims.concert_id)


def _admitted(ticket: Ticket, holder_name: str | None) -> CheckInRead:
    assert ticket.checked_in_at is not None
    return CheckInRead(
        ticket_id=ticket.id,
        order_id=ticket.order_id,
        seat_id=ticket.seat_id,
        section=ticket.section,
        row=ticket.row,
        number=ticket.number,
        holder_name=holder_name,
        checked_in_at=ticket.checked_in_at,
    )

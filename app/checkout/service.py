"""Checkout and what payments do to orders.

Rules that keep the promises (never double-sold, never double-charged, never lost):
- The durable store decides who gets a seat: confirming claims every seat of the order there,
  all or nothing (unique (concert, seat)), before anything else happens. Redis is told after.
- Every order change is a version-conditioned write through the state machine (states.py);
  on a version conflict the decision is taken again on the fresh order.
- Every step is idempotent (claims by the same order, ticket ids derived from order and seat,
  refunds with an idempotency key derived from the payment intent), so a payment event may be
  delivered any number of times, concurrently, in any order.
- Domain events (docs/events.md) are published after the write they report succeeded, once
  per successful write: a repeated payment event changes nothing and publishes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from redis.exceptions import LockError

from app.api import API_PREFIX
from app.checkout.calendar import concert_ics
from app.checkout.errors import InvalidOrderTransition, OrderNotFound, OrderNotPayable
from app.checkout.report import sales_report
from app.checkout.schemas import (
    CheckoutResult,
    OrderList,
    OrderRead,
    PaymentRead,
    TicketList,
    TicketRead,
)
from app.checkout.states import Event, allows, next_status
from app.checkout.ticket_pdf import owned_bundle, owned_tickets_pdf
from app.checkout.tickets import TicketSigner, issue_tickets, ticket_id
from app.concerts.cache import ConcertCache
from app.concerts.errors import ConcertNotFound
from app.events.metrics import HOLDS_RELEASED, ORDERS
from app.events.publisher import EventPublisher
from app.events.schemas import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderExpired,
    OrderFailed,
    OrderRefunded,
    RefundReason,
    ReleaseReason,
    SeatReleased,
    SeatSold,
)
from app.payments.errors import PaymentIntentNotCancelable, PaymentProviderUnavailable
from app.payments.gateway import PaymentGateway, PaymentIntent
from app.platform.redis import RedisClient
from app.seats.engine import OverCap, Taken
from app.seats.errors import HoldNotFound, SaleNotOpen
from app.seats.index import seat_index
from app.seats.service import CANCELLED_DETAIL, concert_of_hold
from app.seats.state import CHECKED_OUT_GRACE_MS, SeatState
from app.storage.errors import DuplicateKey, SeatsAlreadySold, VersionConflict
from app.storage.ports import Store
from app.storage.records import Concert, Order, OrderStatus, Ticket

log = logging.getLogger(__name__)

# Conflicting writers on one order are few (webhook copies, the expiry job, the buyer); a
# handful of re-reads always settles it.
_MAX_ATTEMPTS = 8
# How long seats are held for a payment being confirmed (the sale then consumes the hold).
_SECURE_MS = 30_000
# An organiser's refund holds its order's lock at most this long (then it lapses).
_REFUND_LOCK_SECONDS = 60
# A buyer's history: their latest orders, at most this many.
HISTORY_LIMIT = 200


class CheckoutCreated(CheckoutResult):
    """A new order (201), as opposed to the existing order of an already checked-out hold."""


def order_read(order: Order, tickets: list[Ticket]) -> OrderRead:
    return OrderRead(
        id=order.id,
        concert_id=order.concert_id,
        seat_ids=list(order.seat_ids),
        amount_cents=order.amount_cents,
        currency=order.currency,
        status=order.status.value,
        created_at=order.created_at,
        expires_at=order.expires_at,
        payment_intent_id=order.payment_intent_id,
        # A refunded (or cancelled) order's tickets no longer admit anyone: not shown. Nor are
        # those the buyer gave to someone else (their code is the receiver's).
        tickets=[
            ticket_read(t) for t in tickets if t.order_id == order.id and t.user_id == order.user_id
        ]
        if order.status is OrderStatus.CONFIRMED
        else [],
        tickets_given=sum(
            1 for t in tickets if t.order_id == order.id and t.user_id != order.user_id
        ),
    )


def ticket_read(ticket: Ticket) -> TicketRead:
    return TicketRead(
        id=ticket.id,
        order_id=ticket.order_id,
        concert_id=ticket.concert_id,
        seat_id=ticket.seat_id,
        section=ticket.section,
        row=ticket.row,
        number=ticket.number,
        code=ticket.code,
        issued_at=ticket.issued_at,
        checked_in_at=ticket.checked_in_at,
    )


class Checkout:
    def __init__(
        self,
        store: Store,
        concerts: ConcertCache,
        seats: SeatState,
        gateway: PaymentGateway,
        signer: TicketSigner,
        payment_window_seconds: int,
        events: EventPublisher,
        redis: RedisClient,
    ) -> None:
        self._redis = redis  # per-order locks of organisers' refunds
        self._store = store
        self._concerts = concerts
        self._seats = seats
        self._gateway = gateway
        self._signer = signer
        self._window_ms = payment_window_seconds * 1000
        self._events = events

    # --- the buyer's side ---------------------------------------------------------------

    async def checkout(
        self,
        user_id: str,
        hold_id: str,
        admit: Callable[[Concert], Awaitable[None]] | None = None,
    ) -> CheckoutResult:
        """Turn a live hold into an order waiting for payment, with a payment intent.
        The same hold checked out again returns the same order (and the same intent).
        `admit` may refuse a new checkout for the concert (the waiting room's pass check)."""
        existing = await self._store.orders.get_by_hold(hold_id)
        if existing is not None:
            return await self._existing(existing, user_id)
        concert = await self._concert(concert_of_hold(hold_id), HoldNotFound)
        if concert.cancelled_at is not None:
            raise SaleNotOpen(CANCELLED_DETAIL, reason="cancelled")
        if admit is not None:
            await admit(concert)
        engine = self._seats.engine
        # From here the hold is the order's: the buyer can no longer release it on its own,
        # and it lives a grace period past the payment window, so its seats count against the
        # buyer's cap until the expiry job (or the payment, or a cancel) ends the order.
        held = await self._seats.run(
            concert,
            lambda: engine.extend(
                concert.id,
                hold_id,
                user_id,
                self._window_ms + CHECKED_OUT_GRACE_MS,
                checked_out=True,
            ),
        )
        if held is None:
            raise HoldNotFound()
        index = seat_index(concert)
        now = datetime.now(UTC)
        order = Order(
            id=str(uuid.uuid4()),
            user_id=user_id,
            concert_id=concert.id,
            hold_id=hold_id,
            seat_ids=tuple(index.seat_ids[i] for i in held.indexes),
            amount_cents=index.amount_cents(held.indexes),
            currency=concert.currency,
            status=OrderStatus.PENDING_PAYMENT,
            created_at=now,
            expires_at=datetime.fromtimestamp(
                (held.expires_at_ms - CHECKED_OUT_GRACE_MS) / 1000, UTC
            ),
        )
        # The intent first, then the order written with it: one store write instead of an
        # insert and a version-guarded update. Its idempotency key derives from the order id,
        # made here. If the provider fails, no order exists and the hold stays: the buyer's
        # retry makes a new order. An intent whose order was never written (a crash here, or
        # the lost race below) was never shown to anyone, so it can't be paid.
        intent = await self._gateway.create_intent(
            amount_cents=order.amount_cents,
            currency=order.currency,
            order_id=order.id,
            idempotency_key=f"order-{order.id}",
        )
        try:
            await self._store.orders.add(replace(order, payment_intent_id=intent.id))
        except DuplicateKey:  # the same hold checked out twice at once: one order wins
            winner = await self._store.orders.get_by_hold(hold_id)
            if winner is None:
                raise
            await self._drop_intent(intent.id)
            return await self._existing(winner, user_id)
        ORDERS.labels(order.status.value).inc()
        # Built from `order`, which has no intent yet: order.created keeps reporting
        # payment_intent_id null, as docs/events.md describes it.
        await self._events.publish(OrderCreated.of(order, expires_at=order.expires_at))
        order = replace(order, payment_intent_id=intent.id)
        log.info("order created", extra={"order_id": order.id, "concert_id": concert.id})
        return CheckoutCreated(order=order_read(order, []), payment=self._payment(intent))

    async def _drop_intent(self, intent_id: str) -> None:
        """Cancel an intent whose order lost the race to be written (best effort: nobody has
        its client secret, so it can't be paid either way)."""
        try:
            await self._gateway.cancel_intent(intent_id)
        except Exception:
            log.warning(
                "unused payment intent not cancelled", extra={"payment_intent_id": intent_id}
            )

    async def _existing(self, order: Order, user_id: str) -> CheckoutResult:
        if order.user_id != user_id:
            raise HoldNotFound()
        if order.status is OrderStatus.PENDING_PAYMENT:
            order, intent = await self._ensure_intent(order)
        elif order.payment_intent_id is not None:
            intent = await self._gateway.retrieve_intent(order.payment_intent_id)
        else:
            raise InvalidOrderTransition(
                f"This hold's order is {order.status.value}; hold seats again to buy.",
                status=order.status.value,
            )
        tickets = await self._store.tickets.list_for_orders([order.id])
        return CheckoutResult(order=order_read(order, tickets), payment=self._payment(intent))

    async def _ensure_intent(self, order: Order) -> tuple[Order, PaymentIntent]:
        """The order's payment intent, created once: the provider's idempotency key is derived
        from the order, so a retry after a crash or a lost reply never makes a second one."""
        intent = await self._gateway.create_intent(
            amount_cents=order.amount_cents,
            currency=order.currency,
            order_id=order.id,
            idempotency_key=f"order-{order.id}",
        )
        for _ in range(_MAX_ATTEMPTS):
            if order.payment_intent_id == intent.id:
                return order, intent
            try:
                order = await self._store.orders.attach_payment_intent(
                    order.id, order.version, intent.id
                )
            except VersionConflict:
                order = await self._reload(order.id)
        return order, intent

    def _payment(self, intent: PaymentIntent) -> PaymentRead:
        provider = self._gateway.provider
        return PaymentRead(
            provider=provider,
            payment_intent_id=intent.id,
            client_secret=intent.client_secret,
            publishable_key=self._gateway.publishable_key,
            confirm_path=simulated_confirm_path(intent.id) if provider == "simulated" else None,
        )

    async def payment_of(self, user_id: str, order_id: str) -> PaymentRead:
        """What the buyer needs to pay an order still waiting for payment, from any tab or
        device: its intent (created once, as at checkout), never a second one. 409
        OrderNotPayable once there is nothing left to pay."""
        order = await self._store.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise OrderNotFound()
        _require_payable(order)
        if order.payment_intent_id is None:
            order, intent = await self._ensure_intent(order)
        else:
            intent = await self._gateway.retrieve_intent(order.payment_intent_id)
        if intent.status in _INTENT_PAID:
            raise OrderNotPayable(
                "This order's payment is already going through; its page shows the tickets "
                "once it is confirmed.",
                status=order.status.value,
            )
        if intent.status == "canceled":
            raise OrderNotPayable(
                "This order's payment was cancelled, so it can't be paid any more. Pick your "
                "seats again to buy.",
                status=order.status.value,
            )
        return self._payment(intent)

    async def tickets_pdf(self, user_id: str, order_id: str) -> bytes:
        """The PDF of one of the buyer's confirmed orders (app/checkout/ticket_pdf.py)."""
        return await owned_tickets_pdf(self._store, user_id, order_id)

    async def calendar(self, user_id: str, order_id: str, public_base_url: str) -> bytes:
        """The show of one of the buyer's confirmed orders as an .ics (app/checkout/calendar.py),
        the same file the confirmation mail attaches."""
        bundle = await owned_bundle(self._store, user_id, order_id)
        link = f"{public_base_url.rstrip('/')}/orders/{order_id}"
        return concert_ics(bundle, link)

    async def sales_report(self, concert_id: str) -> tuple[Concert, str]:
        """The concert and its sales report as CSV, one row per ticket (organisers)."""
        concert = await self._concert(concert_id, ConcertNotFound)
        return concert, await sales_report(self._store, concert)

    async def get_order(self, user_id: str, order_id: str) -> OrderRead:
        order = await self._store.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise OrderNotFound()
        return order_read(order, await self._store.tickets.list_for_orders([order.id]))

    async def cancel(self, user_id: str, order_id: str) -> OrderRead:
        order = await self._store.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise OrderNotFound()
        next_status(order.status, Event.CANCEL)  # refuse early, before touching the provider
        if order.payment_intent_id is not None:
            try:
                await self._gateway.cancel_intent(order.payment_intent_id)
            except PaymentIntentNotCancelable:
                # Paid a moment ago; the payment event is on its way (or was lost): apply it.
                await self.payment_succeeded(order.payment_intent_id, order.id)
                raise InvalidOrderTransition(
                    "This order has just been paid and can't be cancelled.", status="confirmed"
                ) from None
        order = await self._move(order, Event.CANCEL, "cancelled by the buyer")
        await self._events.publish(OrderCancelled.of(order, by="buyer"))
        await self._free_hold(order, "checkout_cancelled")
        return order_read(order, [])

    async def orders_of(self, user_id: str) -> OrderList:
        """The buyer's orders, newest first, with the tickets of the confirmed ones."""
        orders = await self._store.orders.list_for_user(user_id, HISTORY_LIMIT)
        tickets = await self._store.tickets.list_for_orders([o.id for o in orders])
        return OrderList(items=[order_read(o, tickets) for o in orders])

    async def tickets_of(self, user_id: str) -> TicketList:
        """The buyer's tickets, newest first, but for those of orders no longer confirmed."""
        tickets = await self._store.tickets.list_for_user(user_id)
        orders = {o.id: o for o in await self._store.orders.list_for_user(user_id, HISTORY_LIMIT)}
        # Tickets given to this buyer belong to someone else's order: read those orders too.
        for order_id in {t.order_id for t in tickets} - orders.keys():
            if (given := await self._store.orders.get(order_id)) is not None:
                orders[order_id] = given
        valid = [
            t
            for t in tickets
            if (o := orders.get(t.order_id)) is None or o.status is OrderStatus.CONFIRMED
        ]
        return TicketList(items=[ticket_read(t) for t in valid])

    async def is_buyers_payment(self, user_id: str, intent_id: str) -> bool:
        """Whether the payment intent pays one of the buyer's orders."""
        order = await self._store.orders.get_by_payment_intent(intent_id)
        return order is not None and order.user_id == user_id

    # --- payment outcomes (webhook, reconciliation) ---------------------------------------

    async def apply_event_once(
        self, event_id: str, kind: str, apply: Callable[[], Awaitable[None]]
    ) -> None:
        """Run `apply` for a provider event unless the event was recorded already (a duplicate
        delivery does nothing). The event is recorded first, so concurrent copies apply it once."""
        if not await self._store.payment_events.record_if_absent(event_id, kind, datetime.now(UTC)):
            return
        try:
            await apply()
        except BaseException:
            # Not applied: forget the event so the provider's retry runs it again.
            await self._store.payment_events.forget(event_id)
            raise

    async def payment_succeeded(self, intent_id: str, order_id: str | None) -> Order | None:
        order = await self._find(intent_id, order_id)
        if order is None:
            log.warning("payment for an unknown order", extra={"payment_intent_id": intent_id})
            return None
        for _ in range(_MAX_ATTEMPTS):
            if order.status is OrderStatus.CONFIRMED:
                await self._deliver(order)  # idempotent: completes a crashed confirmation
                return order
            if not allows(order.status, Event.PAYMENT_SUCCEEDED):
                return order  # refunded already: nothing to do
            concert = await self._concert(order.concert_id, OrderNotFound)
            lost = await self._secure_seats(order, concert)
            if lost is not None:
                return await self._refund_lost(order, intent_id, lost)
            try:
                await self._store.sales.claim(
                    order.concert_id, order.seat_ids, order.id, datetime.now(UTC)
                )
            except SeatsAlreadySold as exc:
                return await self._refund_lost(order, intent_id, _taken(exc.seat_ids))
            try:
                late = order.status is not OrderStatus.PENDING_PAYMENT
                reason = "paid after the hold lapsed; seats re-claimed" if late else "paid"
                order = await self._transition(order, Event.PAYMENT_SUCCEEDED, reason)
            except VersionConflict:
                order = await self._reload(order.id)
                continue
            try:
                await self._deliver(order, concert)
            finally:
                # The store says confirmed even if delivery failed (a redelivered payment event
                # completes it, finds the order confirmed already and publishes nothing).
                await self._events.publish(*_confirmed_events(order, late))
            log.info("order confirmed", extra={"order_id": order.id, "late": late})
            return order
        raise VersionConflict(f"order {order.id} kept changing")

    async def _secure_seats(self, order: Order, concert: Concert) -> _Lost | None:
        """Make sure the order's seats are held for it in Redis before the sale is recorded;
        None when they are, else why the payment must be refunded.

        Its own hold, if it is live and has every seat, is kept a little longer. If it lapsed
        (the expiry job stalled past the grace, or the order ended and the payment came late),
        or was rebuilt without some seats after Redis lost its state, the seats are held again,
        all or nothing, within the buyer's cap. Without this a late payment took seats that
        another buyer was holding by then (found by tests/model), or seats past the cap: a
        buyer who let a checked-out hold lapse, held others and then paid both orders got
        twice the cap (issue 16)."""
        index = seat_index(concert)
        positions = [index.position[s] for s in order.seat_ids]
        engine = self._seats.engine
        held = await self._seats.run(
            concert,
            lambda: engine.extend(concert.id, order.hold_id, order.user_id, _SECURE_MS),
        )
        if held is not None and set(held.indexes) == set(positions):
            return None
        if held is not None:  # some seats missing: give it back and hold them all again
            await self._seats.run(
                concert, lambda: engine.release(concert.id, order.hold_id, order.user_id)
            )
        outcome = await self._seats.run(
            concert,
            lambda: engine.hold(
                concert.id,
                order.hold_id,
                order.user_id,
                positions,
                cap=concert.max_tickets_per_user,
                ttl_ms=_SECURE_MS,
            ),
        )
        if isinstance(outcome, Taken):
            return _taken([index.seat_ids[i] for i in outcome.indexes])
        if isinstance(outcome, OverCap):
            return _Lost(
                "over_limit",
                f"paid, but the buyer already has {outcome.already} of the "
                f"{concert.max_tickets_per_user} seats one buyer may have; refunded",
            )
        return None

    async def _refund_lost(self, order: Order, intent_id: str, lost: _Lost) -> Order:
        """Paid, but the seats can't be the buyer's (sold to someone else meanwhile, or past
        the per-buyer cap): refund exactly once."""
        await self._gateway.refund(intent_id, idempotency_key=f"refund-{intent_id}")
        for _ in range(_MAX_ATTEMPTS):
            if order.status is OrderStatus.REFUNDED:
                return order
            try:
                order = await self._transition(order, Event.SEATS_LOST, lost.detail)
            except VersionConflict:
                order = await self._reload(order.id)
                continue
            await self._events.publish(OrderRefunded.of(order, reason=lost.reason))
            await self._free_hold(order, "order_refunded")
            log.warning("paid order refunded", extra={"order_id": order.id, "reason": lost.reason})
            return order
        raise VersionConflict(f"order {order.id} kept changing")

    async def payment_failed(self, intent_id: str, order_id: str | None) -> Order | None:
        order = await self._find(intent_id, order_id)
        if order is None or not allows(order.status, Event.PAYMENT_FAILED):
            return order
        # The intent is cancelled so no later attempt can charge for seats we give back.
        try:
            await self._gateway.cancel_intent(intent_id)
        except PaymentIntentNotCancelable:
            return await self.payment_succeeded(intent_id, order.id)
        order = await self._move(order, Event.PAYMENT_FAILED, "payment failed")
        await self._events.publish(OrderFailed.of(order))
        await self._free_hold(order, "payment_failed")
        return order

    async def payment_canceled(self, intent_id: str, order_id: str | None) -> Order | None:
        order = await self._find(intent_id, order_id)
        if order is None or not allows(order.status, Event.CANCEL):
            return order
        order = await self._move(order, Event.CANCEL, "payment intent cancelled")
        await self._events.publish(OrderCancelled.of(order, by="provider"))
        await self._free_hold(order, "checkout_cancelled")
        return order

    async def refunded(self, intent_id: str) -> Order | None:
        """A confirmed order refunded at the provider: its seats go back on sale."""
        order = await self._find(intent_id, None)
        if order is None or not allows(order.status, Event.REFUND):
            return order
        try:
            order = await self._move(order, Event.REFUND, "refunded at the payment provider")
        except InvalidOrderTransition:
            return await self._reload(order.id)  # refunded meanwhile (by an organiser)
        await self._after_refund(order, "charge_refunded")
        return order

    async def refund(self, order_id: str, why: RefundReason = "organiser") -> OrderRead:
        """An organiser refunds a confirmed order: the payment is refunded at the provider
        (once per intent, whoever asks and however often: the same idempotency key as every
        other refund of it), then the order is refunded, its tickets stop admitting anyone at
        the door and its seats go back on sale. Asking again answers the refunded order."""
        order = await self._store.orders.get(order_id)
        if order is None:
            raise OrderNotFound()
        if order.status is OrderStatus.REFUNDED:
            return order_read(order, [])
        if not allows(order.status, Event.REFUND) or order.payment_intent_id is None:
            raise InvalidOrderTransition(
                f"Only a confirmed order can be refunded; this one is {order.status.value}"
                + (" (cancel it instead)." if order.status is OrderStatus.PENDING_PAYMENT else "."),
                status=order.status.value,
            )
        # One refund call per order at a time: a provider's idempotency key makes a retry
        # safe, but not every provider (nor a Stripe stand-in) refuses a second full refund
        # asked for at the same moment. The lock lapses on its own if this process dies.
        lock = self._redis.lock(
            f"encore:refund:{{{order.id}}}", timeout=_REFUND_LOCK_SECONDS, blocking_timeout=30
        )
        if not await lock.acquire():
            raise PaymentProviderUnavailable(
                "Another refund of this order is still under way; try again in a minute."
            )
        try:
            order = await self._reload(order.id)
            if order.status is OrderStatus.REFUNDED:
                return order_read(order, [])  # refunded meanwhile (another organiser, Stripe)
            intent_id = order.payment_intent_id
            assert intent_id is not None
            await self._gateway.refund(intent_id, idempotency_key=f"refund-{intent_id}")
            try:
                order = await self._move(order, Event.REFUND, "refunded by an organiser")
            except InvalidOrderTransition:
                return order_read(await self._reload(order.id), [])  # the provider's news won
            await self._after_refund(order, why)
            return order_read(order, [])
        finally:
            with contextlib.suppress(LockError):
                await lock.release()

    async def withdraw(self, order_id: str) -> Order:
        """An organiser ends an order still waiting for payment (its concert is cancelled): the
        payment intent is cancelled at the provider so it can no longer be paid, the order is
        cancelled and its hold given back. Idempotent: an order no longer waiting for payment
        is returned as it is; one paid a moment ago is confirmed (the caller refunds it)."""
        order = await self._reload(order_id)
        if not allows(order.status, Event.CANCEL):
            return order
        if order.payment_intent_id is not None:
            try:
                await self._gateway.cancel_intent(order.payment_intent_id)
            except PaymentIntentNotCancelable:
                await self.payment_succeeded(order.payment_intent_id, order.id)
                return await self._reload(order.id)
        try:
            order = await self._move(order, Event.CANCEL, "concert cancelled by an organiser")
        except InvalidOrderTransition:
            return await self._reload(order.id)
        await self._events.publish(OrderCancelled.of(order, by="organiser"))
        await self._free_hold(order, "checkout_cancelled")
        return order

    async def _after_refund(self, order: Order, why: RefundReason) -> None:
        """A confirmed order just became refunded: tell, and put its seats back on sale."""
        await self._events.publish(OrderRefunded.of(order, reason=why))
        await self._store.sales.release(order.id)
        concert = await self._concert(order.concert_id, OrderNotFound)
        index = seat_index(concert)
        positions = [index.position[s] for s in order.seat_ids]
        engine = self._seats.engine
        await self._seats.run(concert, lambda: engine.unsell(concert.id, order.user_id, positions))
        HOLDS_RELEASED.labels("order_refunded").inc()
        await self._events.publish(_released(order, "order_refunded"))

    async def expire_due(self, limit: int = 100) -> int:
        """Orders whose payment window is over: cancel the intent, free the seats."""
        expired = 0
        for order in await self._store.orders.list_due(
            OrderStatus.PENDING_PAYMENT, datetime.now(UTC), limit
        ):
            if order.payment_intent_id is not None:
                try:
                    await self._gateway.cancel_intent(order.payment_intent_id)
                except PaymentIntentNotCancelable:
                    await self.payment_succeeded(order.payment_intent_id, order.id)
                    continue
            try:
                order = await self._transition(order, Event.EXPIRE, "payment window over")
            except (VersionConflict, InvalidOrderTransition):
                continue  # someone else moved it; their outcome stands
            await self._events.publish(OrderExpired.of(order))
            await self._free_hold(order, "order_expired")
            expired += 1
        return expired

    # --- helpers ----------------------------------------------------------------------------

    async def _deliver(self, order: Order, concert: Concert | None = None) -> None:
        """After a confirmed claim: seats sold in Redis, tickets issued. Both idempotent."""
        concert = concert or await self._concert(order.concert_id, OrderNotFound)
        index = seat_index(concert)
        positions = [index.position[s] for s in order.seat_ids]
        engine = self._seats.engine
        await self._seats.run(
            concert, lambda: engine.sell(concert.id, order.hold_id, order.user_id, positions)
        )
        await self._store.tickets.add_many(issue_tickets(self._signer, concert, order))

    async def _free_hold(self, order: Order, reason: ReleaseReason) -> None:
        """Give the order's hold back, if still live (a lapsed one was released already)."""
        concert = await self._concerts.get(order.concert_id, self._store.concerts.get)
        if concert is not None:
            engine = self._seats.engine
            released = await self._seats.run(
                concert, lambda: engine.release(concert.id, order.hold_id, order.user_id)
            )
            if released:
                HOLDS_RELEASED.labels(reason).inc()
                await self._events.publish(_released(order, reason))

    async def _move(self, order: Order, event: Event, reason: str) -> Order:
        """Transition with re-reads on conflict; InvalidOrderTransition once it can't apply."""
        for _ in range(_MAX_ATTEMPTS):
            try:
                return await self._transition(order, event, reason)
            except VersionConflict:
                order = await self._reload(order.id)
        raise VersionConflict(f"order {order.id} kept changing")

    async def _transition(self, order: Order, event: Event, reason: str) -> Order:
        to_status = next_status(order.status, event)
        moved = await self._store.orders.transition(
            order.id, order.version, to_status, reason, datetime.now(UTC)
        )
        ORDERS.labels(to_status.value).inc()
        return moved

    async def _reload(self, order_id: str) -> Order:
        order = await self._store.orders.get(order_id)
        if order is None:
            raise OrderNotFound()
        return order

    async def _find(self, intent_id: str, order_id: str | None) -> Order | None:
        order = await self._store.orders.get(order_id) if order_id else None
        if order is None or order.payment_intent_id not in (None, intent_id):
            order = await self._store.orders.get_by_payment_intent(intent_id)
        return order

    async def _concert(self, concert_id: str, missing: type[Exception]) -> Concert:
        concert = await self._concerts.get(concert_id, self._store.concerts.get)
        if concert is None:
            raise missing()
        return concert


# Intent statuses of a payment that went through or is going through: nothing left to pay.
_INTENT_PAID = frozenset({"succeeded", "processing", "requires_capture"})

_NOT_PAYABLE = {
    OrderStatus.CONFIRMED: "This order is already paid: your tickets are on its page.",
    OrderStatus.EXPIRED: "The time to pay this order ran out and its seats went back on sale. "
    "Pick seats again to buy.",
    OrderStatus.CANCELLED: "This order was cancelled and its seats went back on sale. "
    "Pick seats again to buy.",
    OrderStatus.FAILED: "The payment of this order failed and its seats were released. "
    "Pick seats again to buy.",
    OrderStatus.REFUNDED: "This order was refunded; there is nothing to pay.",
}


def simulated_confirm_path(intent_id: str) -> str:
    """The simulated provider's pay button for an intent (app/payments/router.py)."""
    return f"{API_PREFIX}/payments/simulated/{intent_id}/confirm"


def _require_payable(order: Order) -> None:
    """OrderNotPayable unless the order waits for payment within its payment window."""
    if order.status is not OrderStatus.PENDING_PAYMENT:
        raise OrderNotPayable(_NOT_PAYABLE[order.status], status=order.status.value)
    if order.expires_at <= datetime.now(UTC):
        raise OrderNotPayable(
            "The time to pay this order is over; its seats are going back on sale. "
            "Pick seats again to buy.",
            status=order.status.value,
        )


@dataclass(frozen=True, slots=True)
class _Lost:
    """Why a payment is refunded instead of confirming its order."""

    reason: RefundReason
    detail: str


def _taken(seat_ids: Sequence[str]) -> _Lost:
    return _Lost("seats_taken", f"paid but seats taken ({', '.join(seat_ids)}); refunded")


def _confirmed_events(order: Order, late: bool) -> tuple[OrderConfirmed, SeatSold]:
    tickets = [ticket_id(order.id, seat_id) for seat_id in order.seat_ids]
    return (
        OrderConfirmed.of(order, ticket_ids=tickets, late=late),
        SeatSold(
            concert_id=order.concert_id,
            order_id=order.id,
            hold_id=order.hold_id,
            user_id=order.user_id,
            seat_ids=list(order.seat_ids),
        ),
    )


def _released(order: Order, reason: ReleaseReason) -> SeatReleased:
    return SeatReleased(
        concert_id=order.concert_id,
        hold_id=order.hold_id,
        user_id=order.user_id,
        seat_ids=list(order.seat_ids),
        reason=reason,
        order_id=order.id,
    )

"""Reconciliation: find and repair drift between Redis, the durable store and the payment provider.

Redis is the truth for which seats are free or held right now, the store for which are sold,
the provider for whether an order was paid. Normally every change reaches all of them; a crash
between two writes, a lost webhook or a Redis failover can leave them disagreeing. This job
(one process at a time, under a lease: see lease.py) compares and repairs, every
RECONCILE_INTERVAL_SECONDS:

Seats, for each upcoming concert (starts_at from now on) whose state is loaded in Redis. A
concert that is not loaded is skipped: it holds no state to drift, and its next use (or the
warm-up) rebuilds it from the store. Concerts that have started are left alone: their sale is
over. For each: one atomic read of the Redis state (`audit`; its holds are then read in pages,
so that a stadium's holds never block Redis in one call), then the store (sales, then orders
that are over), then one atomic repair script (`reconcile.lua`) that re-checks every seat:

- sold in the store but not S in Redis -> S                                    (`seat_sold`)
- S in Redis without a sale in the store -> A (H if a hold lists it)           (`seat_unsold`)
  only if no change and no sale reached the concert since the audit, else deferred
- H in Redis that no hold lists -> A                                           (`seat_orphaned`)
- a hold whose order is over (cancelled, failed, expired, refunded) -> released (`hold_released`)

Payments: orders still waiting for payment RECONCILE_PAYMENT_AFTER_SECONDS after checkout (at
most RECONCILE_BATCH per run) are looked up at the provider: a payment that succeeded is applied
through `Checkout.payment_succeeded` (`payment_succeeded`), the webhook's own idempotent path;
a cancelled intent cancels the order (`payment_canceled`); anything else is left alone.

A second run over the same data finds nothing. See docs/operations.md for why each repair is
safe against live traffic.
"""

from __future__ import annotations

import logging
import re
from collections import Counter as Tally
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from prometheus_client import Counter

from app.checkout.service import Checkout
from app.container import Container
from app.payments.errors import PaymentIntentNotFound, PaymentProviderUnavailable
from app.payments.gateway import PaymentGateway
from app.seats.engine import Audit, NotLoaded, SeatEngine
from app.seats.index import SeatIndex, seat_index
from app.storage.ports import Store
from app.storage.records import Concert, ConcertFilter, Order, OrderStatus
from app.workers.lease import singleton

log = logging.getLogger(__name__)

REPAIRS = Counter(
    "reconciliation_repairs_total", "Drift repaired by reconciliation, by kind", ["kind"]
)
RUNS = Counter("reconciliation_runs_total", "Reconciliation runs completed")
DEFERRED = Counter(
    "reconciliation_deferred_total",
    "Seat repairs (S -> A) put off because the concert changed while reconciliation looked",
)

# Orders that are over: their hold (if Redis still has one) must not keep seats.
TERMINAL = (OrderStatus.CANCELLED, OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.REFUNDED)
_PAGE = 100


class RepairKind(StrEnum):
    SEAT_SOLD = "seat_sold"
    SEAT_UNSOLD = "seat_unsold"
    SEAT_ORPHANED = "seat_orphaned"
    HOLD_RELEASED = "hold_released"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_CANCELED = "payment_canceled"


@dataclass(slots=True)
class ReconcileResult:
    """What one run found and repaired."""

    repairs: Tally[RepairKind] = field(default_factory=Tally)
    deferred: int = 0
    concerts_checked: int = 0
    concerts_not_loaded: int = 0
    orders_checked: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return sum(self.repairs.values())

    def count(self, kind: RepairKind) -> int:
        return self.repairs[kind]


class Reconciler:
    def __init__(
        self,
        store: Store,
        engine: SeatEngine,
        checkout: Checkout,
        gateway: PaymentGateway,
        *,
        payment_after_seconds: float,
        payment_window_seconds: float,
        batch: int,
    ) -> None:
        self._store = store
        self._engine = engine
        self._checkout = checkout
        self._gateway = gateway
        self._payment_after = timedelta(seconds=payment_after_seconds)
        self._payment_window = timedelta(seconds=payment_window_seconds)
        self._batch = batch

    async def run_once(self) -> ReconcileResult:
        result = ReconcileResult()
        await self._reconcile_seats(result)
        await self._reconcile_payments(result)
        RUNS.inc()
        for kind, n in result.repairs.items():
            REPAIRS.labels(kind.value).inc(n)
        if result.deferred:
            DEFERRED.inc(result.deferred)
        log.log(
            logging.WARNING if result.total or result.errors else logging.INFO,
            "reconciliation run",
            extra={
                "repairs": result.total,
                **{f"repairs_{kind.value}": n for kind, n in sorted(result.repairs.items())},
                "deferred": result.deferred,
                "concerts_checked": result.concerts_checked,
                "concerts_not_loaded": result.concerts_not_loaded,
                "orders_checked": result.orders_checked,
                "errors": result.errors,
            },
        )
        return result

    # --- seats ------------------------------------------------------------------------------

    async def _upcoming(self) -> list[Concert]:
        now = datetime.now(UTC)
        concerts: list[Concert] = []
        cursor: str | None = None
        while True:
            page = await self._store.concerts.search(ConcertFilter(date_from=now), _PAGE, cursor)
            concerts += page.items
            cursor = page.next_cursor
            if cursor is None or not page.items:
                return concerts

    async def _reconcile_seats(self, result: ReconcileResult) -> None:
        concerts = await self._upcoming()
        loaded = await self._engine.counts([c.id for c in concerts])
        for concert in concerts:
            if concert.id not in loaded:
                result.concerts_not_loaded += 1
                continue
            try:
                await self.reconcile_concert(concert, result)
            except NotLoaded:
                result.concerts_not_loaded += 1  # reset or flushed meanwhile
            except Exception:
                # One broken concert must not stop the others from being repaired.
                result.errors += 1
                log.exception("reconciliation failed", extra={"concert_id": concert.id})

    async def reconcile_concert(self, concert: Concert, result: ReconcileResult) -> None:
        index = seat_index(concert)
        # Redis first, the store second: a seat S in Redis and unsold in a store read taken
        # *after* it is either truly unsold or was sold since, which the repair's guard sees.
        audit = await self._engine.audit(concert.id)
        if len(audit.seats) != index.size:
            result.errors += 1
            log.warning(
                "seat state does not match the layout; not reconciled",
                extra={"concert_id": concert.id, "redis": len(audit.seats), "layout": index.size},
            )
            return
        sold = await self._store.sales.sold_seats(concert.id)
        over = await self._store.orders.list_for_concert(concert.id, TERMINAL)
        result.concerts_checked += 1

        plan = _plan(index, audit, sold, over)
        sold_at, to_sell, to_unsell, orphans, order_of_hold = plan
        if orphans:
            orphans = await self._still_orphaned(concert.id, orphans)
        if not (to_sell or to_unsell or orphans or order_of_hold):
            return

        done = await self._engine.repair(
            concert.id,
            audit,
            sold=to_sell,
            unsold=to_unsell,
            orphans=orphans,
            hold_ids=sorted(order_of_hold),
        )
        seat_ids = index.seat_ids

        def report(kind: RepairKind, **ids: str) -> None:
            result.repairs[kind] += 1
            log.warning(
                "reconciliation repair",
                extra={"repair": kind.value, "concert_id": concert.id, **ids},
            )

        for p in done.sold:
            report(RepairKind.SEAT_SOLD, seat_id=seat_ids[p], order_id=sold_at[p])
        for p, state in done.unsold:
            report(RepairKind.SEAT_UNSOLD, seat_id=seat_ids[p], state=state)
        for p in done.orphans:
            report(RepairKind.SEAT_ORPHANED, seat_id=seat_ids[p])
        for hold_id in done.released:
            order = order_of_hold[hold_id]
            report(
                RepairKind.HOLD_RELEASED,
                hold_id=hold_id,
                order_id=order.id,
                order_status=order.status.value,
            )
        if done.deferred:
            result.deferred += len(done.deferred)
            log.info(
                "reconciliation deferred: the concert changed while it was checked",
                extra={
                    "concert_id": concert.id,
                    "seat_ids": ",".join(seat_ids[p] for p in done.deferred),
                },
            )

    async def _still_orphaned(self, concert_id: str, candidates: list[int]) -> list[int]:
        """The candidates still held and listed by no hold at a second look. The audit reads
        the holds in pages after the state, so a hold released meanwhile leaves its seats
        looking orphaned (by then free, or held by a hold the scan had passed). reconcile.lua
        re-checks exactly, but its check reads every hold in one call: only seats that look
        orphaned twice should cost that."""
        seats = (await self._engine.snapshot(concert_id)).seats
        still = [p for p in candidates if seats[p] == "H"]
        if not still:
            return []
        holds = await self._engine.holds_of(concert_id)
        listed = {i for hold in holds.values() for i in hold.indexes}
        return [p for p in still if p not in listed]

    # --- payments ---------------------------------------------------------------------------

    async def _reconcile_payments(self, result: ReconcileResult) -> None:
        now = datetime.now(UTC)
        checked_out_before = now - self._payment_after
        # The store lists waiting orders by expiry; an order expires a payment window after
        # its checkout, so this bound covers those checked out before `checked_out_before`.
        due = await self._store.orders.list_due(
            OrderStatus.PENDING_PAYMENT, checked_out_before + self._payment_window, self._batch
        )
        for order in due:
            if order.created_at > checked_out_before or order.payment_intent_id is None:
                continue
            result.orders_checked += 1
            intent_id = order.payment_intent_id
            try:
                intent = await self._gateway.retrieve_intent(intent_id)
                if intent.status == "succeeded":
                    after = await self._checkout.payment_succeeded(intent_id, order.id)
                    kind = RepairKind.PAYMENT_SUCCEEDED
                elif intent.status == "canceled":
                    after = await self._checkout.payment_canceled(intent_id, order.id)
                    kind = RepairKind.PAYMENT_CANCELED
                else:
                    continue  # still payable: the buyer may yet pay, or the order expires
            except PaymentProviderUnavailable:
                result.errors += 1
                log.warning("payment provider unavailable; payments not reconciled this run")
                return
            except PaymentIntentNotFound:
                result.errors += 1
                log.warning(
                    "order's payment intent not found at the provider",
                    extra={"order_id": order.id, "payment_intent_id": intent_id},
                )
                continue
            except Exception:
                result.errors += 1
                log.exception("payment reconciliation failed", extra={"order_id": order.id})
                continue
            if after is not None and after.status is not OrderStatus.PENDING_PAYMENT:
                result.repairs[kind] += 1
                log.warning(
                    "reconciliation repair",
                    extra={
                        "repair": kind.value,
                        "concert_id": order.concert_id,
                        "order_id": order.id,
                        "payment_intent_id": intent_id,
                        "order_status": after.status.value,
                    },
                )


_Plan = tuple[dict[int, str], list[int], list[int], list[int], dict[str, Order]]


def _plan(index: SeatIndex, audit: Audit, sold: Mapping[str, str], over: list[Order]) -> _Plan:
    """What the store and Redis disagree on: seats to mark sold, to put back on sale, held
    seats no hold lists, and holds whose order is over (their positions in the layout)."""
    sold_at = {index.position[s]: order for s, order in sold.items() if s in index.position}
    listed = {i for hold in audit.holds.values() for i in hold.indexes}
    to_sell = [p for p in sorted(sold_at) if audit.seats[p] != "S"]
    # Only the S and H positions are visited, found by the regex engine: a stadium's 100,000
    # seats are not walked one by one in Python on the event loop.
    to_unsell = [p for p in _positions(audit.seats, "S") if p not in sold_at]
    orphans = [p for p in _positions(audit.seats, "H") if p not in listed]
    order_of_hold = {o.hold_id: o for o in over if o.hold_id in audit.holds}
    return sold_at, to_sell, to_unsell, orphans, order_of_hold


def _positions(seats: str, state: str) -> list[int]:
    return [m.start() for m in re.finditer(state, seats)]


LEASE_NAME = "reconciliation"
LEASE_TTL_SECONDS = 30.0


def reconciler_of(c: Container) -> Reconciler:
    return Reconciler(
        c.store,
        c.engine,
        c.checkout,
        c.gateway,
        payment_after_seconds=c.settings.reconcile_payment_after_seconds,
        payment_window_seconds=c.settings.payment_window_seconds,
        batch=c.settings.reconcile_batch,
    )


async def reconcile_forever(c: Container) -> None:
    """The reconciliation job of a process: under the lease, so one process runs it at a time.
    Returns at once when RECONCILE_INTERVAL_SECONDS is 0 (off in this process)."""
    interval = c.settings.reconcile_interval_seconds
    if interval <= 0:
        return
    await singleton(
        c.redis,
        LEASE_NAME,
        interval,
        reconciler_of(c).run_once,
        lease_ttl_seconds=LEASE_TTL_SECONDS,
    )

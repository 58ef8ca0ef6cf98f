"""Winding up a cancelled concert's orders: every confirmed order refunded exactly once, every
order still waiting for payment cancelled.

The walk reuses the organiser's refund (Checkout.refund: per-order lock, the provider's
idempotency key derived from the payment intent) and never refunds any other way. It keeps no
cursor of its own: the orders' states are the progress. A run that stops anywhere (the process
killed, the provider down) is resumed by running it again: orders already refunded or cancelled
are no longer listed, and an order whose refund reached the provider but whose state was not
written yet is refunded again under the same idempotency key, which the provider answers with
the refund it already made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.checkout.service import Checkout
from app.storage.ports import Store
from app.storage.records import OrderStatus

log = logging.getLogger(__name__)

_OPEN = (OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED)


@dataclass(slots=True)
class WindUpRun:
    """What one run did: orders refunded, cancelled, and failed (left for the next run)."""

    total: int = 0  # open orders found at the start of the run
    refunded: int = 0
    cancelled: int = 0
    failed: int = 0


async def wind_up_orders(
    store: Store,
    checkout: Checkout,
    concert_id: str,
    progress: Callable[[WindUpRun], Awaitable[None]] | None = None,
    progress_every: int = 20,
) -> WindUpRun:
    """Refund the concert's confirmed orders and cancel its pending ones, one by one, calling
    `progress` every `progress_every` orders.

    An order that fails (its provider call refused) is counted and left as it is for the next
    run; a cancellation of the run itself (shutdown, a lost lease) stops it at once."""
    orders = await store.orders.list_for_concert(concert_id, _OPEN)
    orders.sort(key=lambda o: (o.created_at, o.id))
    run = WindUpRun(total=len(orders))
    for seen, order in enumerate(orders, start=1):
        if progress is not None and seen % progress_every == 0:
            await progress(run)
        try:
            if order.status is OrderStatus.PENDING_PAYMENT:
                order = await checkout.withdraw(order.id)
                if order.status is OrderStatus.CANCELLED:
                    run.cancelled += 1
                    continue
            if order.status is OrderStatus.CONFIRMED:  # or paid while being cancelled
                done = await checkout.refund(order.id, why="concert_cancelled")
                if done.status == OrderStatus.REFUNDED.value:
                    run.refunded += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            run.failed += 1
            log.warning(
                "order of a cancelled concert not wound up; retried on the next run",
                extra={"order_id": order.id, "concert_id": concert_id},
                exc_info=True,
            )
    return run

"""The background jobs of one process: which run, how often."""

from __future__ import annotations

import asyncio

from app.container import Container
from app.events.delivery import run_ticket_delivery
from app.events.eventbridge import run_eventbridge_forwarder
from app.waiting_room.admission import AdmissionLoop
from app.waiting_room.slots import run_slot_release
from app.workers.cancellations import cancellations_forever
from app.workers.loop import every
from app.workers.lottery import draws_forever
from app.workers.reconcile import reconcile_forever
from app.workers.sweeper import HoldSweeper
from app.workers.warmup import warm_up_forever

ORDER_EXPIRY_INTERVAL_SECONDS = 5.0


def start_jobs(c: Container) -> list[asyncio.Task[None]]:
    """Start the jobs; every one is idempotent, so any number of processes may run them."""
    sweeper = HoldSweeper(
        c.engine,
        c.settings.sweeper_interval_seconds,
        events=c.events,
        concerts=c.catalogue.find,
    )
    admission = AdmissionLoop(
        c.waiting_room,
        c.catalogue.find,
        catalogue=c.catalogue,
        discover_every=c.settings.queue_discover_interval_seconds,
    )
    tasks = [
        asyncio.create_task(sweeper.run(), name="hold-sweeper"),
        asyncio.create_task(
            every("order expiry", ORDER_EXPIRY_INTERVAL_SECONDS, c.checkout.expire_due),
            name="order-expiry",
        ),
        asyncio.create_task(
            run_ticket_delivery(c.settings, c.store, c.redis), name="ticket-delivery"
        ),
        # One process at a time (a Redis lease); the others stand by.
        asyncio.create_task(reconcile_forever(c), name="reconciliation"),
        # Cancelled concerts' refunds: one process at a time (a Redis lease), resumable.
        asyncio.create_task(cancellations_forever(c), name="cancellations"),
        asyncio.create_task(warm_up_forever(c), name="warm-up"),
        # Atomic in Redis: any number of processes may admit at once without over-admitting.
        asyncio.create_task(
            every("queue admission", c.settings.queue_admit_interval_seconds, admission.step),
            name="queue-admission",
        ),
        asyncio.create_task(run_slot_release(c.settings, c.waiting_room), name="queue-slots"),
        # Presale lotteries: drawn once (an atomic commit) by whichever process gets there first.
        asyncio.create_task(draws_forever(c), name="lottery-draw"),
    ]
    if c.settings.eventbridge_bus_name and c.settings.events_enabled:
        # The events also on the EventBridge bus: a consumer group of its own.
        tasks.append(asyncio.create_task(run_eventbridge_forwarder(c.settings), name="eventbridge"))
    return tasks

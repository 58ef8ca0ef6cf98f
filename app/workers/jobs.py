"""The background jobs of one process: which run, how often."""

from __future__ import annotations

import asyncio

from app.container import Container
from app.workers.loop import every
from app.workers.sweeper import HoldSweeper

ORDER_EXPIRY_INTERVAL_SECONDS = 5.0


def start_jobs(c: Container) -> list[asyncio.Task[None]]:
    """Start the jobs; every one is idempotent, so any number of processes may run them."""
    sweeper = HoldSweeper(c.engine, c.settings.sweeper_interval_seconds)
    return [
        asyncio.create_task(sweeper.run(), name="hold-sweeper"),
        asyncio.create_task(
            every("order expiry", ORDER_EXPIRY_INTERVAL_SECONDS, c.checkout.expire_due),
            name="order-expiry",
        ),
    ]

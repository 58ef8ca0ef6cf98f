"""The admission job: one step per active queue, every QUEUE_ADMIT_INTERVAL_SECONDS.

Runs in every worker and app process that runs jobs; the step is one atomic script with its
token bucket in Redis, so two loops admit together exactly what one would (tested).

The queues it visits are those in the registry (engine.ACTIVE_QUEUES). A join puts its queue
there; so that a registry lost by Redis (on a cluster it may live on another node than the
queue, and that node alone may fail over to an empty replica) does not strand a line, every
QUEUE_DISCOVER_INTERVAL_SECONDS the job also lists the queued concerts whose on-sale is open or
near from the store and puts back those with people waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.concerts.service import Concerts
from app.storage.records import Concert
from app.waiting_room.service import WaitingRoom

log = logging.getLogger(__name__)


class AdmissionLoop:
    def __init__(
        self,
        room: WaitingRoom,
        load_concert: Callable[[str], Awaitable[Concert | None]],
        *,
        catalogue: Concerts | None = None,
        discover_every: float = 0.0,
    ) -> None:
        self._room = room
        self._load = load_concert
        self._catalogue = catalogue
        self._discover_every = discover_every
        self._next_discovery = 0.0  # time.monotonic(): the first step discovers

    async def step(self) -> int:
        if self._catalogue is not None and self._discover_every > 0:
            now = time.monotonic()
            if now >= self._next_discovery:
                self._next_discovery = now + self._discover_every
                try:
                    await self.discover(self._catalogue)
                except Exception:  # the store or Redis failing: admit what is registered
                    log.warning("queue discovery failed", exc_info=True)
        admitted = 0
        for concert_id in await self._room.engine.active_queues():
            concert = await self._load(concert_id)
            if concert is None or datetime.now(UTC) >= concert.starts_at:
                await self._room.engine.forget(concert_id)  # deleted, or the show has begun
                continue
            if not concert.queue.enabled:
                continue
            admission = await self._room.admit(concert)
            if admission.admitted:
                log.info(
                    "admitted from the queue",
                    extra={
                        "concert_id": concert_id,
                        "count": len(admission.admitted),
                        "waiting": admission.depth,
                        "active": admission.active,
                    },
                )
            admitted += len(admission.admitted)
        return admitted

    async def discover(self, catalogue: Concerts) -> list[str]:
        """Queued concerts, on sale or going on sale before the next discovery, not started,
        with people waiting but missing from the registry: put back, and answered."""
        candidates = [
            c.id
            async for c in catalogue.going_on_sale(timedelta(seconds=self._discover_every))
            if c.queue.enabled
        ]
        found = await self._room.engine.rediscover(candidates)
        for concert_id in found:
            log.warning(
                "queue with people waiting was missing from the registry: put back",
                extra={"concert_id": concert_id},
            )
        return found

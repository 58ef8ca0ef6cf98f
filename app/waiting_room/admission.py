"""The admission job: one step per active queue, every QUEUE_ADMIT_INTERVAL_SECONDS.

Runs in every worker and app process that runs jobs; the step is one atomic script with its
token bucket in Redis, so two loops admit together exactly what one would (tested).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from app.storage.records import Concert
from app.waiting_room.service import WaitingRoom

log = logging.getLogger(__name__)


class AdmissionLoop:
    def __init__(
        self, room: WaitingRoom, load_concert: Callable[[str], Awaitable[Concert | None]]
    ) -> None:
        self._room = room
        self._load = load_concert

    async def step(self) -> int:
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

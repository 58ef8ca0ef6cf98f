"""The hold-expiry sweeper: expired holds become free seats within a fraction of a second.

Every seat-engine script already expires due holds of its concert first (lazy and exact),
but a concert nobody touches would keep showing expired holds. The sweeper calls the same
expiry script for every concert that has live holds, several times a second. Any number of
sweepers (app processes, workers) may run at once: the script is idempotent.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from app.reservations.engine import SeatEngine
from app.workers.loop import every

log = logging.getLogger(__name__)

HOLDS_EXPIRED = Counter("seat_holds_expired_total", "Holds released by the expiry sweeper")
# Batches per concert per pass: bounds one pass even after a long pause.
MAX_BATCHES = 50


class HoldSweeper:
    def __init__(self, engine: SeatEngine, interval_seconds: float) -> None:
        self._engine = engine
        self._interval = interval_seconds

    async def sweep_once(self) -> int:
        released = 0
        for concert_id in await self._engine.active_concerts():
            for _ in range(MAX_BATCHES):
                result = await self._engine.expire(concert_id)
                if result is None:  # state gone (flushed): nothing left to expire
                    await self._engine.forget_if_idle(concert_id)
                    break
                released += result.released
                if result.live_holds == 0:
                    await self._engine.forget_if_idle(concert_id)
                if result.released == 0 or result.live_holds == 0:
                    break
        if released:
            HOLDS_EXPIRED.inc(released)
        return released

    async def run(self) -> None:
        # If Redis is down the loop keeps trying; holds still expire lazily on next use.
        await every("hold sweeper", self._interval, self.sweep_once)

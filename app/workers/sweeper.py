"""The hold-expiry sweeper: expired holds become free seats within a fraction of a second.

Every seat-engine script already expires due holds of its concert first (lazy and exact),
but a concert nobody touches would keep showing expired holds. The sweeper calls the same
expiry script for every concert that has live holds, several times a second. Any number of
sweepers (app processes, workers) may run at once: the script is idempotent.

The holds a sweep releases become `seat.released` events (reason `expired`). Holds released
lazily by another script on their concert are not reported (see docs/events.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from app.events.metrics import EVENTS_PUBLISH_FAILED, HOLDS_RELEASED
from app.events.publisher import EventPublisher
from app.events.schemas import SeatReleased
from app.seats.engine import SeatEngine, StoredHold
from app.seats.index import seat_index
from app.storage.records import Concert
from app.workers.loop import every

log = logging.getLogger(__name__)

HOLDS_EXPIRED = Counter("seat_holds_expired_total", "Holds released by the expiry sweeper")
# Batches per concert per pass: bounds one pass even after a long pause.
MAX_BATCHES = 50


ConcertLookup = Callable[[str], Awaitable[Concert | None]]


class HoldSweeper:
    def __init__(
        self,
        engine: SeatEngine,
        interval_seconds: float,
        *,
        events: EventPublisher | None = None,
        concerts: ConcertLookup | None = None,
    ) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._events = events
        self._concerts = concerts

    async def sweep_once(self) -> int:
        released = 0
        for concert_id in await self._engine.active_concerts():
            for _ in range(MAX_BATCHES):
                result = await self._engine.expire(concert_id)
                if result is None:  # state gone (flushed): nothing left to expire
                    await self._engine.forget_if_idle(concert_id)
                    break
                released += result.released
                if result.holds:
                    HOLDS_RELEASED.labels("expired").inc(len(result.holds))
                    await self._report(concert_id, result.holds)
                if result.live_holds == 0:
                    await self._engine.forget_if_idle(concert_id)
                if result.released == 0 or result.live_holds == 0:
                    break
        if released:
            HOLDS_EXPIRED.inc(released)
        return released

    async def _report(self, concert_id: str, holds: dict[str, StoredHold]) -> None:
        """seat.released events for expired holds. The holds are gone already: a failure here
        loses the events but must not stop the sweep."""
        if self._events is None or self._concerts is None or not self._events.enabled:
            return
        try:
            concert = await self._concerts(concert_id)
            if concert is None:
                return
            seat_ids = seat_index(concert).seat_ids
            await self._events.publish(
                *(
                    SeatReleased(
                        concert_id=concert_id,
                        hold_id=hold_id,
                        user_id=hold.user_id,
                        seat_ids=[seat_ids[i] for i in hold.indexes if i < len(seat_ids)],
                        reason="expired",
                    )
                    for hold_id, hold in holds.items()
                )
            )
        except Exception:
            EVENTS_PUBLISH_FAILED.labels("seat.released").inc(len(holds))
            log.warning(
                "expired holds not reported", extra={"concert_id": concert_id}, exc_info=True
            )

    async def run(self) -> None:
        # If Redis is down the loop keeps trying; holds still expire lazily on next use.
        await every("hold sweeper", self._interval, self.sweep_once)

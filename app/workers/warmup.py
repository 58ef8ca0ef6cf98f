"""Scheduled warm-up (the original design's "Lambda warming").

Every WARMUP_INTERVAL_SECONDS, concerts whose on-sale opens within WARMUP_LEAD_SECONDS (or has
opened) and which have not started are warmed the way `POST /concerts/{id}/warm` does it: the
seat state is loaded into Redis unless it is there, and the concert goes into this process's
metadata cache. So the first buyers of an on-sale never pay for a rebuild, and a concert whose
Redis state was lost mid-sale (flush, failover) is rebuilt within one interval even if nobody
asks for it.

Every process runs this for its own cache (no lease): loading Redis is `load`'s
install-if-absent, so concurrent warm-ups in many processes load a concert once, and a loaded
concert is never reloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from app.concerts.cache import ConcertCache
from app.concerts.service import Concerts
from app.container import Container
from app.seats.service import Seats
from app.seats.state import SeatState
from app.workers.loop import every

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WarmupResult:
    loaded: list[str] = field(default_factory=list)  # concerts whose state this run loaded
    already: int = 0  # due concerts whose state was in Redis already (cache refreshed only)


class WarmUp:
    def __init__(
        self,
        catalogue: Concerts,
        seats: Seats,
        cache: ConcertCache,
        state: SeatState,
        *,
        lead_seconds: float,
    ) -> None:
        self._catalogue = catalogue
        self._seats = seats
        self._cache = cache
        self._state = state
        self._lead = timedelta(seconds=lead_seconds)

    async def run_once(self) -> WarmupResult:
        result = WarmupResult()
        async for concert in self._catalogue.going_on_sale(self._lead):
            if await self._state.engine.is_loaded(concert.id):
                self._cache.put(concert)
                result.already += 1
                continue
            await self._seats.warm(concert.id)
            result.loaded.append(concert.id)
            log.info(
                "concert warmed",
                extra={"concert_id": concert.id, "on_sale_at": concert.on_sale_at.isoformat()},
            )
        return result


async def warm_up_forever(c: Container) -> None:
    """The warm-up job of a process; returns at once when WARMUP_INTERVAL_SECONDS is 0."""
    interval = c.settings.warmup_interval_seconds
    if interval <= 0:
        return
    warmup = WarmUp(
        c.catalogue,
        c.seats,
        c.concerts,
        c.seat_state,
        lead_seconds=c.settings.warmup_lead_seconds,
    )
    await every("warm-up", interval, warmup.run_once)

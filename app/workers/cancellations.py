"""The cancellation job: winds up the orders of concerts an organiser cancelled.

`POST /concerts/{id}/cancel` marks the concert cancelled in the store, then adds its id to a
Redis set of concerts to wind up. Every CANCELLATION_INTERVAL_SECONDS the process holding the
lease (one at a time) takes each of them: every confirmed order refunded, every order waiting
for payment cancelled (app/concerts/cancellation.py), the progress written on the concert as
it goes, and, once a pass finds no open order left, the concert marked finished and dropped
from the set. A run stopped anywhere is resumed by the next one from the orders' states; the
refunds are idempotent per payment, so none is made twice.

Other processes may sell from a stale copy of the concert (their metadata cache) for a few
seconds after the cancellation, so a concert is not marked finished before `settle_seconds`
(twice the cache TTL, plus two seconds) have passed since it was cancelled: an order made in that
window is wound up too.

The set is only a pointer to the store: when the lease holder starts, it also finds cancelled,
unfinished concerts by walking the upcoming ones, so a lost set (Redis flushed) loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.checkout.service import Checkout
from app.concerts.cache import ConcertCache
from app.concerts.cancellation import WindUpRun, wind_up_orders
from app.container import Container
from app.platform.redis import RedisClient
from app.storage.errors import VersionConflict
from app.storage.ports import Store
from app.storage.records import Concert, ConcertFilter, OrderStatus
from app.workers.lease import singleton

log = logging.getLogger(__name__)

PENDING_KEY = "encore:cancellations"
LEASE_NAME = "cancellations"
LEASE_TTL_SECONDS = 30.0
INTERVAL_SECONDS = 2.0
# Cancelled concerts are looked for among those starting from this long ago on.
_RECOVER_SINCE = timedelta(days=7)
_ALL = (
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.CONFIRMED,
    OrderStatus.REFUNDED,
    OrderStatus.CANCELLED,
)
_MAX_ATTEMPTS = 8


async def enqueue(redis: RedisClient, concert_id: str) -> None:
    """Ask the job to wind up this (just cancelled) concert's orders."""
    await redis.sadd(PENDING_KEY, concert_id)


class Cancellations:
    def __init__(
        self,
        store: Store,
        checkout: Checkout,
        redis: RedisClient,
        cache: ConcertCache,
        *,
        settle_seconds: float,
    ) -> None:
        self._settle = timedelta(seconds=settle_seconds)
        self._store = store
        self._checkout = checkout
        self._redis = redis
        self._cache = cache
        self._recovered = False

    async def run_once(self) -> int:
        """Wind up every concert waiting for it; how many finished in this run."""
        if not self._recovered:
            await self._recover()
            self._recovered = True
        finished = 0
        for raw in await self._redis.smembers(PENDING_KEY):
            concert_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if await self.wind_up(concert_id):
                finished += 1
        return finished

    async def wind_up(self, concert_id: str) -> bool:
        """One pass over the concert's open orders; True once none is left (finished)."""
        concert = await self._store.concerts.get(concert_id)
        if concert is None or concert.cancelled_at is None:
            await self._redis.srem(PENDING_KEY, concert_id)
            return False
        if concert.cancellation_finished_at is not None:
            await self._redis.srem(PENDING_KEY, concert_id)
            return True

        async def progress(run: WindUpRun) -> None:
            await self._write_progress(concert_id, run, finish=False)

        run = await wind_up_orders(self._store, self._checkout, concert_id, progress)
        done = await self._write_progress(concert_id, run, finish=True)
        if done:
            await self._redis.srem(PENDING_KEY, concert_id)
            log.info("cancelled concert wound up", extra={"concert_id": concert_id})
        return done

    async def _write_progress(self, concert_id: str, run: WindUpRun, *, finish: bool) -> bool:
        """The concert's progress from its orders' states (exact whatever ran before); with
        `finish`, marked finished when no order is open. True if it was."""
        for _ in range(_MAX_ATTEMPTS):
            concert = await self._store.concerts.get(concert_id)
            if concert is None or concert.cancelled_at is None:
                return False
            if concert.cancellation_finished_at is not None:
                # Another pass (another process's job, an organiser's retry) finished it while
                # this one ran: its figures and finish time stand, never rewritten or undone.
                return True
            counted = await self._counts(concert)
            refunded, cancelled, still_open = counted
            now = datetime.now(UTC)
            updated = replace(
                concert,
                cancellation_total=refunded + cancelled + still_open,
                cancellation_refunded=refunded,
                cancellation_cancelled=cancelled,
                cancellation_failed=run.failed,
                cancellation_finished_at=now
                if finish and still_open == 0 and now >= concert.cancelled_at + self._settle
                else None,
                updated_at=now,
            )
            try:
                await self._store.concerts.update(updated, expected_version=concert.version)
            except VersionConflict:
                continue
            self._cache.drop(concert_id)
            return updated.cancellation_finished_at is not None
        raise VersionConflict(f"concert {concert_id} kept changing")

    async def _counts(self, concert: Concert) -> tuple[int, int, int]:
        """(refunded, cancelled, still open) orders of the concert, counting only those that
        ended after it was cancelled."""
        assert concert.cancelled_at is not None
        since = concert.cancelled_at
        refunded = cancelled = still_open = 0
        for order in await self._store.orders.list_for_concert(concert.id, _ALL):
            ended_at = order.history[-1].at if order.history else order.created_at
            if order.status is OrderStatus.REFUNDED and ended_at >= since:
                refunded += 1
            elif order.status is OrderStatus.CANCELLED and ended_at >= since:
                cancelled += 1
            elif order.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED):
                still_open += 1
        return refunded, cancelled, still_open

    async def _recover(self) -> None:
        """Cancelled concerts not wound up yet, found in the store (the set may be lost)."""
        cursor: str | None = None
        since = datetime.now(UTC) - _RECOVER_SINCE
        while True:
            page = await self._store.concerts.search(ConcertFilter(date_from=since), 100, cursor)
            for concert in page.items:
                if concert.cancelled_at is not None and concert.cancellation_finished_at is None:
                    await enqueue(self._redis, concert.id)
            cursor = page.next_cursor
            if cursor is None or not page.items:
                return


def cancellations_of(c: Container, settle_seconds: float | None = None) -> Cancellations:
    """The job over the container's parts; `settle_seconds` defaults to twice the concert
    cache's TTL plus two seconds."""
    if settle_seconds is None:
        settle_seconds = 2 * c.settings.concert_cache_ttl_seconds + 2
    return Cancellations(c.store, c.checkout, c.redis, c.concerts, settle_seconds=settle_seconds)


async def cancellations_forever(c: Container) -> None:
    """The cancellation job of a process, under its lease: one process at a time."""
    await singleton(
        c.redis,
        LEASE_NAME,
        INTERVAL_SECONDS,
        cancellations_of(c).run_once,
        lease_ttl_seconds=LEASE_TTL_SECONDS,
    )

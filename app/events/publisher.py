"""Appending domain events to the stream, after the write they report has succeeded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from typing import cast

from redis.typing import EncodableT, FieldT

from app.events.metrics import EVENTS_PUBLISH_FAILED, EVENTS_PUBLISHED
from app.events.schemas import DomainEvent, to_fields
from app.platform.batching import GroupCommit, regroup
from app.platform.redis import RedisClient
from app.platform.redis_lane import RedisLane

log = logging.getLogger(__name__)


class EventPublisher:
    """XADDs events to one stream, trimmed to about `maxlen` entries (MAXLEN ~).

    At most once: callers publish only after their durable write succeeded, so a crash or a
    Redis failure between that write and the append loses the event. A failed append never
    fails the caller (its write already happened): it is logged and counted instead.

    Group commit (app/platform/batching.py): the events of all callers that publish while an
    append is in flight go out in the next one, one pipeline, one round trip. A caller still
    returns once its own events are in the stream, in its order.
    """

    def __init__(
        self,
        redis: RedisClient,
        stream: str,
        *,
        maxlen: int,
        enabled: bool = True,
        lane: RedisLane | None = None,
    ) -> None:
        self._redis = redis
        self._lane = lane  # the batches' connection, if any (app/platform/redis_lane.py)
        self._stream = stream
        self._maxlen = maxlen
        self._enabled = enabled
        self._appends: GroupCommit[tuple[DomainEvent, ...], list[bytes | str]] = GroupCommit(
            self._append_batch
        )

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def enabled(self) -> bool:
        return self._enabled

    async def publish(self, *events: DomainEvent) -> list[str]:
        """Append the events in order, in one round trip; their entry ids, or [] if the
        append failed (or events are off)."""
        if not self._enabled or not events:
            return []
        try:
            ids = await self._appends.submit(events)
        except Exception:
            # Anything at all (Redis down, a wrong-type key, a bug): the caller's write stands.
            for event in events:
                EVENTS_PUBLISH_FAILED.labels(event.type).inc()
            log.warning(
                "event publish failed",
                extra={"stream": self._stream, "types": [e.type for e in events]},
                exc_info=True,
            )
            return []
        for event in events:
            EVENTS_PUBLISHED.labels(event.type).inc()
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    def publish_soon(self, *events: DomainEvent) -> None:
        """Append the events in the next batch without waiting for it: for a caller whose
        answer does not depend on the append (a failure is logged and counted all the same).
        `drain()` waits for them."""
        if not self._enabled or not events:
            return
        self._appends.submit_nowait(events).add_done_callback(partial(_counted, events))

    async def drain(self) -> None:
        """Wait until every event published so far has been appended (or has failed)."""
        await self._appends.drain()

    async def _append_batch(
        self, batch: Sequence[tuple[DomainEvent, ...]]
    ) -> list[list[bytes | str]]:
        flat = [event for events in batch for event in events]
        if self._lane is not None:
            replies = await self._lane.execute(
                [
                    ("XADD", self._stream, "MAXLEN", "~", self._maxlen, "*", *_flat_fields(event))
                    for event in flat
                ]
            )
            failed = next((r for r in replies if isinstance(r, Exception)), None)
            if failed is not None:
                raise failed
            return regroup(batch, replies)
        if len(flat) == 1:
            entry_id: bytes | str = await self._redis.xadd(
                self._stream, _entry(flat[0]), maxlen=self._maxlen, approximate=True
            )
            return [[entry_id]]
        pipe = self._redis.pipeline(transaction=False)
        for event in flat:
            pipe.xadd(self._stream, _entry(event), maxlen=self._maxlen, approximate=True)
        ids: list[bytes | str] = await pipe.execute()
        return regroup(batch, ids)


def _counted(events: tuple[DomainEvent, ...], appended: asyncio.Future[list[bytes | str]]) -> None:
    if appended.cancelled():
        return
    failed = appended.exception()
    for event in events:
        (EVENTS_PUBLISH_FAILED if failed else EVENTS_PUBLISHED).labels(event.type).inc()
    if failed is not None:
        log.warning(
            "event publish failed",
            extra={"types": [e.type for e in events]},
            exc_info=failed,
        )


def _flat_fields(event: DomainEvent) -> list[str]:
    return [part for pair in to_fields(event).items() for part in pair]


def _entry(event: DomainEvent) -> dict[FieldT, EncodableT]:
    # dict[str, str] is one of these; mypy can't see it through dict's invariance.
    return cast("dict[FieldT, EncodableT]", to_fields(event))

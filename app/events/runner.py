"""Run one consumer group over the domain event stream as a background job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.events.consumer import BatchHandler, EventConsumer
from app.events.schemas import DomainEvent
from app.platform.redis import build_redis
from app.settings import Settings


def dead_letter_stream(settings: Settings) -> str:
    """Where every group's given-up entries go: `<EVENTS_STREAM>:dead` (docs/events.md)."""
    return f"{settings.events_stream}:dead"


async def consume(
    settings: Settings,
    group: str,
    handler: Callable[[DomainEvent], Awaitable[None]] | None = None,
    *,
    batch_handler: BatchHandler | None = None,
    types: frozenset[str] | None = None,
) -> None:
    """Consume until cancelled (nothing to do when events are off) with a handler of one event
    or (`batch_handler`) of every event of one read. `types`: the event types the handler acts
    on; the others are acknowledged without being decoded."""
    if not settings.events_enabled:
        return
    block_seconds = settings.events_consumer_block_seconds
    # Its own small client: a blocking read holds a connection for up to `block_seconds`,
    # longer than the request timeout of the shared client.
    redis = build_redis(
        settings.redis_url,
        settings.redis_timeout_seconds + block_seconds,
        max_connections=2,
        cluster=settings.redis_cluster,
    )
    consumer = EventConsumer(
        redis,
        stream=settings.events_stream,
        group=group,
        handler=handler,
        batch_handler=batch_handler,
        block_ms=int(block_seconds * 1000),
        claim_min_idle_ms=int(settings.events_claim_min_idle_seconds * 1000),
        types=types,
        dead_letter=dead_letter_stream(settings),
    )
    try:
        await consumer.run()
    finally:
        await redis.aclose()

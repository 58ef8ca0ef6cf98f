"""The ticket-delivery consumer: the buyer of a confirmed order gets their tickets.

A stand-in for e-mail: it logs "tickets delivered". Delivery is at least once (see
consumer.py), so a real sender would de-duplicate on the order id.
"""

from __future__ import annotations

import logging

from app.events.consumer import EventConsumer
from app.events.schemas import DomainEvent, OrderConfirmed
from app.platform.redis import build_redis
from app.settings import Settings

log = logging.getLogger(__name__)


async def deliver_tickets(event: DomainEvent) -> None:
    if isinstance(event, OrderConfirmed):
        log.info(
            "tickets delivered",
            extra={
                "order_id": event.order_id,
                "user_id": event.user_id,
                "tickets": len(event.ticket_ids),
                "event_id": event.id,
            },
        )


async def run_ticket_delivery(settings: Settings) -> None:
    """The background job: consume until cancelled (nothing to do when events are off)."""
    if not settings.events_enabled:
        return
    block_seconds = settings.events_consumer_block_seconds
    # Its own small client: a blocking read holds a connection for up to `block_seconds`,
    # longer than the request timeout of the shared client.
    redis = build_redis(
        settings.redis_url, settings.redis_timeout_seconds + block_seconds, max_connections=2
    )
    consumer = EventConsumer(
        redis,
        stream=settings.events_stream,
        group=settings.events_consumer_group,
        handler=deliver_tickets,
        block_ms=int(block_seconds * 1000),
        claim_min_idle_ms=int(settings.events_claim_min_idle_seconds * 1000),
    )
    try:
        await consumer.run()
    finally:
        await redis.aclose()

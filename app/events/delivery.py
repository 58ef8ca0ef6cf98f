"""The ticket-delivery consumer: the buyer of a confirmed order gets their tickets.

A stand-in for e-mail: it logs "tickets delivered". Delivery is at least once (see
consumer.py), so a real sender would de-duplicate on the order id.
"""

from __future__ import annotations

import logging

from app.events.runner import consume
from app.events.schemas import DomainEvent, OrderConfirmed
from app.settings import Settings

log = logging.getLogger(__name__)


DELIVERY_TYPES = frozenset({"order.confirmed"})  # what deliver_tickets acts on


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
    """The background job: consume until cancelled."""
    await consume(settings, settings.events_consumer_group, deliver_tickets, types=DELIVERY_TYPES)

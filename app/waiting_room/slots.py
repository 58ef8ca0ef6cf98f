"""Freeing an admitted buyer's slot when their order is confirmed.

A consumer group ("waiting-room") on the domain event stream: `order.confirmed` takes the buyer
out of the concert's active shoppers, so the next in line is admitted without waiting for the
pass to run out. Events are published at most once; a lost one only means the slot frees when
the pass expires (QUEUE_PASS_TTL_SECONDS), never that a slot is counted twice.
"""

from __future__ import annotations

from app.events.runner import consume
from app.events.schemas import DomainEvent, OrderConfirmed
from app.settings import Settings
from app.waiting_room.service import WaitingRoom

GROUP = "waiting-room"
TYPES = frozenset({"order.confirmed"})  # what frees a slot


async def run_slot_release(settings: Settings, room: WaitingRoom) -> None:
    async def handle(event: DomainEvent) -> None:
        if isinstance(event, OrderConfirmed):
            await room.done(event.concert_id, event.user_id)

    await consume(settings, GROUP, handle, types=TYPES)

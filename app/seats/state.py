"""Keeping a concert's seat state in Redis: rebuilt from the durable store when missing.

Redis may lose a concert's state (never warmed, FLUSHALL, failover). It is then rebuilt
before any read or hold is served, from what the store knows: sold seats, and the seats of
orders still waiting for payment (held until their payment window and its grace end). A sold
seat never shows as available again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from app.seats.engine import NotLoaded, SeatEngine
from app.seats.index import SeatIndex, seat_index
from app.storage.ports import Store
from app.storage.records import Concert, OrderStatus

log = logging.getLogger(__name__)

# A checked-out hold lives this long past its order's payment window, so that the order-expiry
# job (every few seconds) ends the order, and releases the hold, before Redis would: until then
# the order's seats stay held for it and count against the buyer's cap (docs/seat-engine.md).
CHECKED_OUT_GRACE_MS = 60_000

T = TypeVar("T")


class SeatState:
    def __init__(self, engine: SeatEngine, store: Store) -> None:
        self.engine = engine
        self._store = store
        self._locks: dict[str, asyncio.Lock] = {}

    async def run(self, concert: Concert, call: Callable[[], Awaitable[T]]) -> T:
        """Run an engine call; if the concert is not loaded, rebuild it and run it again."""
        try:
            return await call()
        except NotLoaded:
            await self.ensure_loaded(concert)
            return await call()

    async def ensure_loaded(self, concert: Concert) -> bool:
        """Load the concert's state unless Redis has it; True if this call installed it."""
        lock = self._locks.setdefault(concert.id, asyncio.Lock())
        async with lock:  # one rebuild per process at a time; `load` is NX across processes
            if await self.engine.is_loaded(concert.id):
                return False
            seats, holds, users = await self._rebuild(concert, seat_index(concert))
            installed = await self.engine.load(concert.id, seats, holds, users)
            if installed:
                log.info(
                    "seat state rebuilt",
                    extra={"concert_id": concert.id, "sold": seats.count("S"), "holds": len(holds)},
                )
            return installed

    async def _rebuild(
        self, concert: Concert, index: SeatIndex
    ) -> tuple[str, dict[str, dict[str, Any]], dict[str, int]]:
        states = bytearray(b"A" * index.size)
        sold = await self._store.sales.sold_seats(concert.id)
        for seat_id in sold:
            position = index.position.get(seat_id)
            if position is not None:
                states[position] = ord("S")
        orders = await self._store.orders.list_for_concert(
            concert.id, [OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED]
        )
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        cap = concert.max_tickets_per_user
        holds: dict[str, dict[str, Any]] = {}
        users: dict[str, int] = {}
        confirmed = {o.id: o for o in orders if o.status is OrderStatus.CONFIRMED}
        for order in confirmed.values():
            positions = [index.position[s] for s in order.seat_ids if s in index.position]
            users[order.user_id] = users.get(order.user_id, 0) + len(positions)
        # Tickets given to another buyer count for the receiver too (receive.lua); the giver's
        # order still counts in full for the giver.
        if confirmed:
            for ticket in await self._store.tickets.list_for_orders(list(confirmed)):
                if ticket.user_id != confirmed[ticket.order_id].user_id:
                    users[ticket.user_id] = users.get(ticket.user_id, 0) + 1
        # Orders waiting for payment hold their seats again, first order first, each counting in
        # full against its buyer's cap (seats sold to someone else meanwhile stay sold: the
        # payment, if it comes, is refunded). One that would pass the cap is not held: only a
        # stalled expiry job lets such orders pile up, and their payment is refunded too.
        for order in sorted(orders, key=lambda o: (o.created_at, o.id)):
            if order.status is not OrderStatus.PENDING_PAYMENT:
                continue
            expires_ms = int(order.expires_at.timestamp() * 1000) + CHECKED_OUT_GRACE_MS
            if expires_ms <= now_ms:
                continue  # its payment window and grace are over: the seats are free again
            have = users.get(order.user_id, 0)
            if have + len(order.seat_ids) > cap:
                continue
            positions = [index.position[s] for s in order.seat_ids if s in index.position]
            free = [p for p in positions if states[p] == ord("A")]
            for p in free:
                states[p] = ord("H")
            holds[order.hold_id] = {
                "u": order.user_id,
                "e": expires_ms,
                "s": free,
                "n": len(order.seat_ids),
                "o": 1,
            }
            users[order.user_id] = have + len(order.seat_ids)
        return states.decode(), holds, users

"""Holds and the seat map (`Seats`): every decision is one atomic Lua call in the seat engine."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from app.concerts.cache import ConcertCache
from app.concerts.errors import ConcertNotFound
from app.concerts.service import Concerts
from app.errors import AppError, ValidationError
from app.events.metrics import HOLDS_CREATED, HOLDS_RELEASED
from app.events.publisher import EventPublisher
from app.events.schemas import SeatHeld, SeatReleased
from app.seats.engine import (
    CheckedOut,
    Held,
    HoldInfo,
    OverCap,
    Snapshot,
    SoldOut,
    Taken,
)
from app.seats.errors import (
    HoldCheckedOut,
    HoldLimitExceeded,
    HoldNotFound,
    SaleNotOpen,
    SeatsUnavailable,
    UnknownSeats,
)
from app.seats.index import SeatIndex, seat_index
from app.seats.schemas import HoldCreate, HoldRead, WarmResult
from app.seats.seatmap import SeatMapCache
from app.seats.state import SeatState
from app.storage.ports import Store
from app.storage.records import Concert
from app.waiting_room.service import WaitingRoom

# A hold id names its concert, so GET/DELETE /holds/{id} find the concert's keys directly.
_HOLD_SEPARATOR = "."


def new_hold_id(concert_id: str) -> str:
    return f"{concert_id}{_HOLD_SEPARATOR}{secrets.token_urlsafe(12)}"


def concert_of_hold(hold_id: str) -> str:
    concert_id, sep, token = hold_id.rpartition(_HOLD_SEPARATOR)
    if not sep or not concert_id or not token:
        raise HoldNotFound()
    return concert_id


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


CANCELLED_DETAIL = "This concert was cancelled, so tickets are no longer sold; buyers are refunded."


def check_sale_open(concert: Concert, now: datetime) -> None:
    if concert.cancelled_at is not None:
        raise SaleNotOpen(CANCELLED_DETAIL, reason="cancelled")
    if now < concert.on_sale_at:
        raise SaleNotOpen(
            f"The sale opens at {concert.on_sale_at.isoformat()}; try again then.",
            on_sale_at=concert.on_sale_at.isoformat(),
        )
    if now >= concert.starts_at:
        raise SaleNotOpen("This concert has started; sales are closed.")


def _hold_read(concert: Concert, index: SeatIndex, hold_id: str, info: HoldInfo) -> HoldRead:
    return HoldRead(
        id=hold_id,
        concert_id=concert.id,
        seat_ids=[index.seat_ids[i] for i in info.indexes],
        expires_at=_ms_to_datetime(info.expires_at_ms),
        amount_cents=index.amount_cents(info.indexes),
        currency=concert.currency,
    )


class Seats:
    """Holds and the seat map, for every concert: each decision is one atomic call into the
    seat engine (app/seats/engine.py), through SeatState, which rebuilds a lost state."""

    def __init__(
        self,
        catalogue: Concerts,
        store: Store,
        cache: ConcertCache,
        state: SeatState,
        maps: SeatMapCache,
        events: EventPublisher,
        room: WaitingRoom,
        *,
        hold_ttl_seconds: int,
    ) -> None:
        self._catalogue = catalogue
        self._store = store
        self._cache = cache
        self._state = state
        self._maps = maps
        self._events = events
        self._room = room
        self._ttl_ms = hold_ttl_seconds * 1000

    async def create_hold(
        self, user_id: str, concert_id: str, body: HoldCreate, queue_pass: str | None
    ) -> HoldRead:
        concert = await self._catalogue.load(concert_id)
        check_sale_open(concert, datetime.now(UTC))
        await self._room.require_pass(concert, user_id, queue_pass)
        index = seat_index(concert)
        engine = self._state.engine
        hold_id = new_hold_id(concert.id)
        ttl_ms = self._ttl_ms
        cap = concert.max_tickets_per_user
        if body.seat_ids is not None:
            unknown = [s for s in body.seat_ids if s not in index.position]
            if unknown:
                raise UnknownSeats(unknown=unknown)
            positions = [index.position[s] for s in body.seat_ids]
            outcome = await self._state.run(
                concert,
                lambda: engine.hold(
                    concert.id, hold_id, user_id, positions, cap=cap, ttl_ms=ttl_ms
                ),
            )
        else:
            assert body.quantity is not None
            if body.section_id is not None and not index.has_section(body.section_id):
                raise ValidationError("section_id", "no section with this id in the concert")
            rows = index.rows_of(body.section_id)
            quantity = body.quantity
            outcome = await self._state.run(
                concert,
                lambda: engine.hold_best(
                    concert.id, hold_id, user_id, quantity, rows, cap=cap, ttl_ms=ttl_ms
                ),
            )
        if not isinstance(outcome, Held):
            raise _refusal(concert, index, outcome)
        hold = _hold_read(concert, index, hold_id, HoldInfo(outcome.expires_at_ms, outcome.indexes))
        HOLDS_CREATED.inc()
        # Nobody's answer waits for this append: the hold stands whether or not it lands.
        self._events.publish_soon(
            SeatHeld.model_construct(
                concert_id=concert.id,
                hold_id=hold_id,
                user_id=user_id,
                seat_ids=hold.seat_ids,
                expires_at=hold.expires_at,
                amount_cents=hold.amount_cents,
                currency=hold.currency,
            )
        )
        return hold

    async def _hold_concert(self, hold_id: str) -> Concert:
        concert = await self._catalogue.find(concert_of_hold(hold_id))
        if concert is None:
            raise HoldNotFound()
        return concert

    async def get_hold(self, user_id: str, hold_id: str) -> HoldRead:
        concert = await self._hold_concert(hold_id)
        info = await self._state.engine.get_hold(concert.id, hold_id, user_id)
        if info is None:
            raise HoldNotFound()
        return _hold_read(concert, seat_index(concert), hold_id, info)

    async def release_hold(self, user_id: str, hold_id: str) -> None:
        concert = await self._hold_concert(hold_id)
        state = self._state
        released = await state.run(
            concert, lambda: state.engine.release_seats(concert.id, hold_id, user_id)
        )
        if released is None:
            raise HoldNotFound()
        if isinstance(released, CheckedOut):
            # Its seats count against the buyer's cap until the order ends: releasing the hold
            # alone would let a buyer hold (and pay for) more than the cap.
            raise await self._checked_out(hold_id)
        HOLDS_RELEASED.labels("released").inc()
        seat_ids = seat_index(concert).seat_ids
        await self._events.publish(
            SeatReleased(
                concert_id=concert.id,
                hold_id=hold_id,
                user_id=user_id,
                seat_ids=[seat_ids[i] for i in released if i < len(seat_ids)],
                reason="released",
            )
        )

    async def _checked_out(self, hold_id: str) -> HoldCheckedOut:
        order = await self._store.orders.get_by_hold(hold_id)
        if order is None:  # the checkout is under way (or failed before its order was written)
            return HoldCheckedOut(
                "This hold is being checked out. Check it out again to see its order, then "
                "cancel the order to give the seats back."
            )
        return HoldCheckedOut(
            f"This hold is checked out as order {order.id}, waiting for payment. Cancel the "
            f"order (POST /api/v1/orders/{order.id}/cancel) to give the seats back, or pay "
            "for it.",
            order_id=order.id,
        )

    async def seat_map(self, concert_id: str) -> bytes:
        concert = await self._catalogue.load(concert_id)
        return await self._map_of(concert)

    async def _map_of(self, concert: Concert) -> bytes:
        state, maps, engine = self._state, self._maps, self._state.engine
        known = maps.known_version(concert)
        if known is not None:
            # Usually still current between changes: then Redis sends the version, not the seats.
            seen = await state.run(concert, lambda: engine.snapshot_since(concert.id, known))
            if isinstance(seen, Snapshot):
                return maps.get(concert, seen)
            body = maps.cached(concert, seen.version)
            if body is not None:
                return body
        snapshot = await state.run(concert, lambda: engine.snapshot(concert.id))
        return maps.get(concert, snapshot)

    async def live_map(self, concert_id: str) -> LiveMap:
        """A concert's map for the seat stream: its seat ids, and how to read a fresh
        snapshot (its version and the map's JSON) whenever the stream needs one."""
        concert = await self._catalogue.load(concert_id)
        state, maps = self._state, self._maps

        async def snapshot() -> tuple[int, bytes]:
            snap = await state.run(concert, lambda: state.engine.snapshot(concert.id))
            return snap.version, maps.get(concert, snap)

        return LiveMap(concert.id, seat_index(concert).seat_ids, snapshot)

    async def warm(self, concert_id: str) -> WarmResult:
        """Load layout and seat state into Redis and this process's cache before an on-sale."""
        concert = await self._store.concerts.get(concert_id)
        if concert is None:
            raise ConcertNotFound()
        self._cache.put(concert)
        seat_index(concert)
        await self._state.ensure_loaded(concert)
        return WarmResult(
            concert_id=concert.id, seats=concert.seats_total, warmed_at=datetime.now(UTC)
        )


@dataclass(frozen=True, slots=True)
class LiveMap:
    concert_id: str
    seat_ids: tuple[str, ...]
    snapshot: Callable[[], Awaitable[tuple[int, bytes]]]


def _refusal(concert: Concert, index: SeatIndex, outcome: object) -> AppError:
    """The error of a hold the engine refused."""
    if isinstance(outcome, Taken):
        return SeatsUnavailable(unavailable=[index.seat_ids[i] for i in outcome.indexes])
    if isinstance(outcome, OverCap):
        return HoldLimitExceeded(
            f"You already hold or bought {outcome.already} of the "
            f"{concert.max_tickets_per_user} tickets one buyer may have for this concert.",
            limit=concert.max_tickets_per_user,
            already=outcome.already,
        )
    assert isinstance(outcome, SoldOut)
    return SeatsUnavailable(
        "Not enough seats are left for that request; try a smaller quantity or another section.",
        unavailable=[],
    )

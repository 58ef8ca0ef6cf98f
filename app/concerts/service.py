"""Concerts: create, change, find and describe, with the layout built once at creation."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

from app.concerts.cache import ConcertCache
from app.concerts.errors import (
    ConcertCancelled,
    ConcertConflict,
    ConcertNotFound,
    ConcertStarted,
    LayoutLocked,
)
from app.concerts.layout import SectionSpec, build_sections, layout_signature
from app.concerts.schemas import (
    CancellationRead,
    ConcertCreate,
    ConcertPage,
    ConcertPatch,
    ConcertRead,
    ConcertStatus,
    ConcertSummary,
    PriceRange,
    QueueConfig,
    QueueRead,
    RowRead,
    SectionCreate,
    SectionRead,
    VenueRead,
)
from app.errors import ValidationError
from app.seats.engine import SeatEngine
from app.storage.cursor import InvalidCursor
from app.storage.errors import RecordNotFound, VersionConflict
from app.storage.ports import Store
from app.storage.records import Concert, ConcertFilter, QueueSettings, Section


def _sections(specs: list[SectionCreate]) -> tuple[Section, ...]:
    return build_sections(
        [SectionSpec(s.name, s.price_cents, s.rows, s.seats_per_row) for s in specs]
    )


def _queue(cfg: QueueConfig) -> QueueSettings:
    return QueueSettings(
        enabled=cfg.enabled,
        admit_per_minute=cfg.admit_per_minute,
        max_active=cfg.max_active,
        opens_at=cfg.opens_at,
        challenge=cfg.challenge,
        challenge_difficulty=cfg.challenge_difficulty,
        mode=cfg.mode,
        registration_opens_at=cfg.registration_opens_at,
        registration_closes_at=cfg.registration_closes_at,
        winners=cfg.winners,
    )


def concert_status(concert: Concert, seats_available: int, now: datetime) -> ConcertStatus:
    if concert.cancelled_at is not None:
        return "cancelled"
    if now >= concert.starts_at:
        return "ended"
    if now < concert.on_sale_at:
        return "scheduled"
    return "on_sale" if seats_available > 0 else "sold_out"


def to_summary(concert: Concert, taken: int, now: datetime) -> ConcertSummary:
    """`taken`: seats held or sold."""
    available = max(concert.seats_total - taken, 0)
    prices = [s.price_cents for s in concert.sections] or [0]
    return ConcertSummary(
        id=concert.id,
        title=concert.title,
        artist=concert.artist,
        genre=concert.genre,
        venue=VenueRead(
            name=concert.venue_name, city=concert.venue_city, time_zone=concert.venue_time_zone
        ),
        starts_at=concert.starts_at,
        on_sale_at=concert.on_sale_at,
        status=concert_status(concert, available, now),
        currency=concert.currency,
        price_range=PriceRange(min_cents=min(prices), max_cents=max(prices)),
        seats_total=concert.seats_total,
        seats_available=available,
    )


def cancellation_read(concert: Concert) -> CancellationRead | None:
    if concert.cancelled_at is None:
        return None
    return CancellationRead(
        started_at=concert.cancelled_at,
        finished_at=concert.cancellation_finished_at,
        orders_total=concert.cancellation_total,
        refunded=concert.cancellation_refunded,
        cancelled=concert.cancellation_cancelled,
        failed=concert.cancellation_failed,
    )


def to_read(concert: Concert, taken: int, now: datetime, *, seat_ids: bool = False) -> ConcertRead:
    return ConcertRead(
        cancellation=cancellation_read(concert),
        **to_summary(concert, taken, now).model_dump(),
        description=concert.description,
        max_tickets_per_user=concert.max_tickets_per_user,
        queue=QueueRead.model_validate(concert.queue, from_attributes=True),
        sections=[
            SectionRead(
                id=s.id,
                name=s.name,
                price_cents=s.price_cents,
                rows=[
                    RowRead(
                        label=r.label,
                        count=len(r.seat_ids),
                        seats=list(r.seat_ids) if seat_ids else None,
                    )
                    for r in s.rows
                ],
            )
            for s in concert.sections
        ],
    )


def parse_bound(field: str, raw: str | None, *, end_of_day: bool) -> datetime | None:
    """A date (`2026-07-01`, whole day in UTC) or an ISO datetime (naive means UTC)."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime.combine(day, time.min, UTC)
            return start + timedelta(days=1, microseconds=-1) if end_of_day else start
        value = datetime.fromisoformat(raw)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 east of UTC (a 500 before)
        raise ValidationError(field, "use a date (2026-07-01) or an ISO 8601 datetime") from None


_GOING_ON_SALE_PAGE = 100


class Concerts:
    """Concerts: create, change, find and describe, with what is left of each on sale."""

    def __init__(self, store: Store, cache: ConcertCache, engine: SeatEngine) -> None:
        self._store = store
        self._cache = cache
        self._engine = engine

    async def find(self, concert_id: str) -> Concert | None:
        """The concert's metadata, from the in-process cache when fresh; None if none."""
        return await self._cache.get(concert_id, self._store.concerts.get)

    async def load(self, concert_id: str) -> Concert:
        """The concert's metadata, from the in-process cache when fresh."""
        concert = await self.find(concert_id)
        if concert is None:
            raise ConcertNotFound()
        return concert

    async def any_exist(self) -> bool:
        page = await self._store.concerts.search(ConcertFilter(), limit=1, cursor=None)
        return bool(page.items)

    async def _sold(self, concert_id: str) -> int:
        return (await self._store.sales.count_sold([concert_id])).get(concert_id, 0)

    async def unavailable_counts(self, concert_ids: list[str]) -> dict[str, int]:
        """Seats not available per concert: held + sold from the live seat state where Redis
        has it, else sold from the store (a concert nobody has warmed or touched yet)."""
        live = await self._engine.counts(concert_ids)
        missing = [c for c in concert_ids if c not in live]
        sold = await self._store.sales.count_sold(missing) if missing else {}
        out = {c: counts.held + counts.sold for c, counts in live.items()}
        out.update({c: sold.get(c, 0) for c in missing})
        return out

    async def create(self, body: ConcertCreate) -> ConcertRead:
        now = datetime.now(UTC)
        concert = Concert(
            id=str(uuid.uuid4()),
            title=body.title,
            artist=body.artist,
            genre=body.genre,
            description=body.description,
            venue_name=body.venue.name,
            venue_city=body.venue.city,
            venue_time_zone=body.venue.time_zone,
            starts_at=body.starts_at.astimezone(UTC),
            on_sale_at=body.on_sale_at.astimezone(UTC),
            currency=body.currency,
            max_tickets_per_user=body.max_tickets_per_user,
            queue=_queue(body.queue),
            sections=_sections(body.sections),
            created_at=now,
            updated_at=now,
        )
        await self._store.concerts.add(concert)
        self._cache.put(concert)
        return to_read(concert, 0, now)

    async def get(self, concert_id: str, *, seat_ids: bool = False) -> ConcertRead:
        """The concert; its rows as counts, or with their seat ids spelled out (`seat_ids`)."""
        concert = await self.load(concert_id)
        taken = await self.unavailable_counts([concert_id])
        return to_read(concert, taken[concert_id], datetime.now(UTC), seat_ids=seat_ids)

    async def patch(self, concert_id: str, body: ConcertPatch) -> ConcertRead:
        store, engine = self._store, self._engine
        current = await store.concerts.get(concert_id)  # never the cache: we write on top of it
        if current is None:
            raise ConcertNotFound()
        if current.cancelled_at is not None:
            raise ConcertCancelled()
        changes: dict[str, object] = {}
        for name in ("title", "artist", "genre", "description", "currency", "max_tickets_per_user"):
            value = getattr(body, name)
            if value is not None:
                changes[name] = value
        if body.venue is not None:
            changes["venue_name"], changes["venue_city"] = body.venue.name, body.venue.city
            if "time_zone" in body.venue.model_fields_set:  # else the venue keeps its zone
                changes["venue_time_zone"] = body.venue.time_zone
        if body.starts_at is not None:
            changes["starts_at"] = body.starts_at.astimezone(UTC)
        if body.on_sale_at is not None:
            changes["on_sale_at"] = body.on_sale_at.astimezone(UTC)
        if body.queue is not None:
            changes["queue"] = _queue(body.queue)
        sold = await self._sold(concert_id)
        if body.sections is not None:
            sections = _sections(body.sections)
            if layout_signature(sections) != layout_signature(current.sections):
                if sold or await engine.live_holds(concert_id):
                    raise LayoutLocked()
                changes["sections"] = sections
        if "currency" in changes and changes["currency"] != current.currency and sold:
            raise LayoutLocked("Seats are already sold in this currency; it can't change.")
        now = datetime.now(UTC)
        updated = dataclasses.replace(current, **changes, updated_at=now)  # type: ignore[arg-type]
        if updated.on_sale_at >= updated.starts_at:
            raise ValidationError("on_sale_at", "on_sale_at must be before starts_at")
        closes = updated.queue.registration_closes_at
        if updated.queue.mode == "lottery" and closes is not None and closes > updated.on_sale_at:
            raise ValidationError(
                "queue", "queue.registration_closes_at must not be after on_sale_at"
            )
        try:
            stored = await store.concerts.update(updated, expected_version=current.version)
        except VersionConflict as exc:
            raise ConcertConflict() from exc
        except RecordNotFound as exc:
            raise ConcertNotFound() from exc
        self._cache.drop(concert_id)
        if "sections" in changes:
            # Seat indexes changed meaning: the next use rebuilds the seat state from the store.
            await engine.reset(concert_id)
        taken = await self.unavailable_counts([concert_id])
        return to_read(stored, taken[concert_id], now)

    async def cancel(self, concert_id: str) -> ConcertRead:
        """Cancel a concert that has not started: sales stop at once; the cancellation job
        (app/workers/cancellations.py) then refunds or cancels every order of it."""
        current = await self._store.concerts.get(concert_id)
        if current is None:
            raise ConcertNotFound()
        if current.cancelled_at is not None:
            raise ConcertCancelled("This concert is already cancelled.")
        now = datetime.now(UTC)
        if now >= current.starts_at:
            raise ConcertStarted()
        updated = dataclasses.replace(current, cancelled_at=now, updated_at=now)
        try:
            stored = await self._store.concerts.update(updated, expected_version=current.version)
        except VersionConflict as exc:
            raise ConcertConflict() from exc
        except RecordNotFound as exc:
            raise ConcertNotFound() from exc
        self._cache.drop(concert_id)
        taken = await self.unavailable_counts([concert_id])
        return to_read(stored, taken[concert_id], now)

    async def search(
        self,
        *,
        q: str | None,
        city: str | None,
        genre: str | None,
        date_from: str | None,
        date_to: str | None,
        limit: int,
        cursor: str | None,
    ) -> ConcertPage:
        flt = ConcertFilter(
            q=q or None,
            city=city or None,
            genre=genre or None,
            date_from=parse_bound("date_from", date_from, end_of_day=False),
            date_to=parse_bound("date_to", date_to, end_of_day=True),
        )
        if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
            raise ValidationError("date_from", "date_from must not be after date_to")
        try:
            page = await self._store.concerts.search(flt, limit, cursor or None)
        except InvalidCursor as exc:
            raise ValidationError("cursor", str(exc)) from exc
        taken = await self.unavailable_counts([c.id for c in page.items])
        now = datetime.now(UTC)
        return ConcertPage(
            items=[to_summary(c, taken[c.id], now) for c in page.items],
            next_cursor=page.next_cursor,
        )

    async def going_on_sale(self, within: timedelta) -> AsyncIterator[Concert]:
        """Concerts that have not started and whose on-sale opens within `within` from now (or
        has opened), page by page: what the warm-up job loads ahead of an on-sale and the
        waiting room's admission job looks after."""
        now = datetime.now(UTC)
        cursor: str | None = None
        while True:
            # Not started yet: starts_at from now on. The on-sale bound is checked here (the
            # store filters by start date only).
            page = await self._store.concerts.search(
                ConcertFilter(date_from=now), _GOING_ON_SALE_PAGE, cursor
            )
            for concert in page.items:
                if concert.on_sale_at <= now + within and concert.starts_at > now:
                    yield concert
            cursor = page.next_cursor
            if cursor is None or not page.items:
                return

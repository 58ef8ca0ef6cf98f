from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import StreamingResponse

from app.api import API_PREFIX
from app.concerts import service as concerts_service
from app.concerts.errors import ConcertNotFound
from app.deps import (
    AdminUser,
    ConcertCacheDep,
    ContainerDep,
    CurrentUser,
    EventsDep,
    SeatEngineDep,
    SeatEventHubDep,
    SeatMapsDep,
    SeatStateDep,
    SettingsDep,
    StoreDep,
)
from app.errors import Forbidden, NotAuthenticated, error_responses
from app.platform.idempotency import IDEMPOTENCY_ERRORS, IdempotencyKeyHeader
from app.platform.ratelimit import RateLimited, route_limits
from app.seats import service
from app.seats.errors import (
    HoldCheckedOut,
    HoldLimitExceeded,
    HoldNotFound,
    SaleNotOpen,
    SeatsUnavailable,
    UnknownSeats,
)
from app.seats.index import seat_index
from app.seats.schemas import HoldCreate, HoldRead, SeatMap, WarmResult
from app.seats.stream import SlotResponse, seat_events
from app.waiting_room.errors import QueuePassRequired
from app.waiting_room.passes import QueuePassHeader

router = APIRouter(prefix=API_PREFIX, tags=["seats"])

# OpenAPI links (documentation only): what the buyer does next with a hold; Schemathesis'
# stateful phase follows them.
_HOLD_LINKS = {
    "GetHold": {
        "operationId": "get_hold_api_v1_holds__hold_id__get",
        "parameters": {"hold_id": "$response.body#/id"},
        "description": "The hold, while it lives.",
    },
    "ReleaseHold": {
        "operationId": "release_hold_api_v1_holds__hold_id__delete",
        "parameters": {"hold_id": "$response.body#/id"},
        "description": "Give the seats back.",
    },
    "Checkout": {
        "operationId": "checkout_api_v1_checkout_post",
        "requestBody": {"hold_id": "$response.body#/id"},
        "description": "Turn the hold into an order and a payment.",
    },
}


@router.get(
    "/concerts/{concert_id}/seats",
    response_model=SeatMap,
    responses=error_responses(ConcertNotFound),
)
async def get_seat_map(
    concert_id: str,
    store: StoreDep,
    cache: ConcertCacheDep,
    state: SeatStateDep,
    maps: SeatMapsDep,
) -> Response:
    """The live seat map: one status character per seat, row by row."""
    body = await service.seat_map(store, cache, state, maps, concert_id)
    return Response(content=body, media_type="application/json")


@router.get(
    "/concerts/{concert_id}/seats/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "snapshot, then changes"},
        **error_responses(ConcertNotFound, RateLimited),
    },
)
async def stream_seat_map(
    concert_id: str,
    request: Request,
    store: StoreDep,
    cache: ConcertCacheDep,
    state: SeatStateDep,
    maps: SeatMapsDep,
    hub: SeatEventHubDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Server-Sent Events: a `snapshot` (a SeatMap), then `change` events
    `{version, seats: {seat_id: status}}`. Reconnecting (Last-Event-ID) starts with a fresh
    snapshot. A stream ends after a while (SSE_MAX_STREAM_SECONDS) with a `retry:` hint: the
    browser reconnects by itself. 429 beyond the streams one address, or the server, may have
    open (app/seats/stream.py)."""
    slot = hub.slots.acquire(request.scope)  # refused before anything is read
    try:
        concert = await concerts_service.load(store, cache, concert_id)

        async def snapshot() -> tuple[int, bytes]:
            snap = await state.run(concert, lambda: state.engine.snapshot(concert.id))
            return snap.version, maps.get(concert, snap)

        events = seat_events(
            hub,
            concert.id,
            snapshot,
            seat_index(concert).seat_ids,
            settings.sse_heartbeat_seconds,
            lifetime=hub.slots.lifetime(),
        )
    except BaseException:
        slot.release()  # an unknown concert, a store outage: no stream, no place taken
        raise
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return SlotResponse(events, slot, media_type="text/event-stream", headers=headers)


@router.post(
    "/concerts/{concert_id}/holds",
    response_model=HoldRead,
    status_code=status.HTTP_201_CREATED,
    # Holds count per user in their own, stricter window instead of the general one.
    openapi_extra=route_limits(user="holds"),
    responses={
        201: {"description": "Held", "links": _HOLD_LINKS},
        **error_responses(
            NotAuthenticated,
            ConcertNotFound,
            SeatsUnavailable,
            HoldLimitExceeded,
            SaleNotOpen,
            UnknownSeats,
            RateLimited,
            QueuePassRequired,
            *IDEMPOTENCY_ERRORS,
        ),
    },
)
async def create_hold(
    concert_id: str,
    body: HoldCreate,
    request: Request,
    user: CurrentUser,
    c: ContainerDep,  # one dependency for the services: the hot path (docs/performance.md)
    idem_key: IdempotencyKeyHeader = None,
    queue_pass: QueuePassHeader = None,
) -> Response:
    """Hold seats for a few minutes: explicit `seat_ids`, or the best `quantity`. When the
    concert's waiting room is on, send your admission pass as `X-Queue-Pass`."""
    return await c.idempotency.run(
        user_id=user.id,
        key=idem_key,
        request=request,
        call=lambda: service.create_hold(
            c.store,
            c.concerts,
            c.seat_state,
            user_id=user.id,
            concert_id=concert_id,
            body=body,
            ttl_seconds=c.settings.hold_ttl_seconds,
            events=c.events,
            room=c.waiting_room,
            queue_pass=queue_pass,
        ),
        status_code=status.HTTP_201_CREATED,
    )


@router.get(
    "/holds/{hold_id}",
    response_model=HoldRead,
    responses=error_responses(NotAuthenticated, HoldNotFound),
)
async def get_hold(
    hold_id: str, user: CurrentUser, store: StoreDep, cache: ConcertCacheDep, engine: SeatEngineDep
) -> HoldRead:
    """One of your live holds."""
    return await service.get_hold(store, cache, engine, user_id=user.id, hold_id=hold_id)


@router.delete(
    "/holds/{hold_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(NotAuthenticated, HoldNotFound, HoldCheckedOut),
)
async def release_hold(
    hold_id: str,
    user: CurrentUser,
    store: StoreDep,
    cache: ConcertCacheDep,
    state: SeatStateDep,
    events: EventsDep,
) -> Response:
    """Give a hold back; its seats are free at once. A checked-out hold belongs to its order:
    cancel the order instead (409 HoldCheckedOut)."""
    await service.release_hold(store, cache, state, user_id=user.id, hold_id=hold_id, events=events)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/concerts/{concert_id}/warm",
    response_model=WarmResult,
    tags=["concerts"],
    responses=error_responses(NotAuthenticated, Forbidden, ConcertNotFound),
)
async def warm_concert(
    concert_id: str, _: AdminUser, store: StoreDep, cache: ConcertCacheDep, state: SeatStateDep
) -> WarmResult:
    """Load a concert's layout and seat state ahead of its on-sale (organisers only)."""
    return await service.warm(store, cache, state, concert_id)

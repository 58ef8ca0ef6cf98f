from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import StreamingResponse

from app.api import API_PREFIX
from app.concerts.errors import ConcertNotFound
from app.deps import (
    AdminUser,
    CurrentUser,
    IdempotencyDep,
    SeatEventHubDep,
    SeatsDep,
    SettingsDep,
)
from app.errors import Forbidden, NotAuthenticated, error_responses
from app.platform.idempotency import IDEMPOTENCY_ERRORS, IdempotencyKeyHeader
from app.platform.ratelimit import RateLimited, route_limits
from app.seats.errors import (
    HoldCheckedOut,
    HoldLimitExceeded,
    HoldNotFound,
    SaleNotOpen,
    SeatsUnavailable,
    UnknownSeats,
)
from app.seats.fast_hold import FastHoldRoute
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
async def get_seat_map(concert_id: str, seats: SeatsDep) -> Response:
    """The live seat map: one status character per seat, row by row."""
    return Response(content=await seats.seat_map(concert_id), media_type="application/json")


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
    seats: SeatsDep,
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
        live = await seats.live_map(concert_id)
        events = seat_events(
            hub,
            live.concert_id,
            live.snapshot,
            live.seat_ids,
            settings.sse_heartbeat_seconds,
            lifetime=hub.slots.lifetime(),
        )
    except BaseException:
        slot.release()  # an unknown concert, a store outage: no stream, no place taken
        raise
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return SlotResponse(events, slot, media_type="text/event-stream", headers=headers)


async def create_hold(
    concert_id: str,
    body: HoldCreate,
    request: Request,
    user: CurrentUser,
    seats: SeatsDep,
    idempotency: IdempotencyDep,
    idem_key: IdempotencyKeyHeader = None,
    queue_pass: QueuePassHeader = None,
) -> Response:
    """Hold seats for a few minutes: explicit `seat_ids`, or the best `quantity`. When the
    concert's waiting room is on, send your admission pass as `X-Queue-Pass`."""
    return await idempotency.run(
        user_id=user.id,
        key=idem_key,
        request=request,
        call=lambda: seats.create_hold(user.id, concert_id, body, queue_pass),
        status_code=status.HTTP_201_CREATED,
    )


# The stampede's request: a fast path for its plain case (app/seats/fast_hold.py); the route,
# its OpenAPI entry and its errors are exactly what the decorator form would declare.
router.add_api_route(
    "/concerts/{concert_id}/holds",
    create_hold,
    methods=["POST"],
    route_class_override=FastHoldRoute,
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


@router.get(
    "/holds/{hold_id}",
    response_model=HoldRead,
    responses=error_responses(NotAuthenticated, HoldNotFound),
)
async def get_hold(hold_id: str, user: CurrentUser, seats: SeatsDep) -> HoldRead:
    """One of your live holds."""
    return await seats.get_hold(user.id, hold_id)


@router.delete(
    "/holds/{hold_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(NotAuthenticated, HoldNotFound, HoldCheckedOut),
)
async def release_hold(hold_id: str, user: CurrentUser, seats: SeatsDep) -> Response:
    """Give a hold back; its seats are free at once. A checked-out hold belongs to its order:
    cancel the order instead (409 HoldCheckedOut)."""
    await seats.release_hold(user.id, hold_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/concerts/{concert_id}/warm",
    response_model=WarmResult,
    tags=["concerts"],
    responses=error_responses(NotAuthenticated, Forbidden, ConcertNotFound),
)
async def warm_concert(concert_id: str, _: AdminUser, seats: SeatsDep) -> WarmResult:
    """Load a concert's layout and seat state ahead of its on-sale (organisers only)."""
    return await seats.warm(concert_id)

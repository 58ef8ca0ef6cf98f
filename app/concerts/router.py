from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from app.api import API_PREFIX
from app.concerts.errors import (
    ConcertCancelled,
    ConcertConflict,
    ConcertNotFound,
    ConcertStarted,
    LayoutLocked,
)
from app.concerts.schemas import ConcertCreate, ConcertPage, ConcertPatch, ConcertRead
from app.deps import AdminUser, ConcertsDep, ContainerDep
from app.errors import Forbidden, NotAuthenticated, error_responses
from app.platform.etag import NOT_MODIFIED, json_with_etag
from app.workers.cancellations import enqueue

router = APIRouter(prefix=f"{API_PREFIX}/concerts", tags=["concerts"])

_ADMIN = (NotAuthenticated, Forbidden)


def _concert_links(concert_id: str) -> dict[str, dict[str, object]]:
    """OpenAPI links (documentation only) from a response naming a concert to what a buyer or
    an organiser does next with it; Schemathesis' stateful phase follows them."""

    def to(operation_id: str, description: str) -> dict[str, object]:
        parameters = {"concert_id": concert_id}
        return {"operationId": operation_id, "parameters": parameters, "description": description}

    return {
        "GetConcert": to("get_concert_api_v1_concerts__concert_id__get", "The concert."),
        "GetSeatMap": to("get_seat_map_api_v1_concerts__concert_id__seats_get", "Its seat map."),
        "CreateHold": to("create_hold_api_v1_concerts__concert_id__holds_post", "Hold seats."),
        "JoinQueue": to("join_queue_api_v1_concerts__concert_id__queue_post", "Queue up."),
    }


_ORGANISER_LINKS = {
    "PatchConcert": {
        "operationId": "patch_concert_api_v1_concerts__concert_id__patch",
        "parameters": {"concert_id": "$response.body#/id"},
        "description": "Change the concert (organisers).",
    },
    "WarmConcert": {
        "operationId": "warm_concert_api_v1_concerts__concert_id__warm_post",
        "parameters": {"concert_id": "$response.body#/id"},
        "description": "Warm it up before the on-sale (organisers).",
    },
}
DateBound = Query(
    max_length=40,
    description="A date (2026-07-01, the whole day in UTC) or an ISO 8601 datetime.",
)


@router.get(
    "",
    response_model=ConcertPage,
    responses={
        200: {
            "description": "A page of concerts",
            "links": _concert_links("$response.body#/items/0/id"),
        }
    },
)
async def list_concerts(
    concerts: ConcertsDep,
    q: Annotated[str | None, Query(max_length=100, description="In title or artist")] = None,
    city: Annotated[str | None, Query(max_length=100)] = None,
    genre: Annotated[str | None, Query(max_length=50)] = None,
    date_from: Annotated[str | None, DateBound] = None,
    date_to: Annotated[str | None, DateBound] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ConcertPage:
    """Concerts by start time, filtered; follow `next_cursor` for the next page."""
    return await concerts.search(
        q=q,
        city=city,
        genre=genre,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/{concert_id}",
    response_model=ConcertRead,
    responses={
        200: {"description": "The concert", "links": _concert_links("$response.body#/id")},
        **NOT_MODIFIED,
        **error_responses(ConcertNotFound),
    },
)
async def get_concert(
    concert_id: str,
    request: Request,
    concerts: ConcertsDep,
    expand: Annotated[
        Literal["seat_ids"] | None,
        Query(description="`seat_ids`: spell out every row's seat ids (large for a stadium)"),
    ] = None,
) -> Response:
    """A concert with its venue layout: each row as a count of seats numbered from 1, whose ids
    are `<section id>-<row label>-<number>`. Carries an ETag: send it back as `If-None-Match`
    and an unchanged concert answers 304 with no body."""
    concert = await concerts.get(concert_id, seat_ids=expand == "seat_ids")
    return json_with_etag(request, concert)


@router.post(
    "",
    response_model=ConcertRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "description": "Created",
            "links": {**_concert_links("$response.body#/id"), **_ORGANISER_LINKS},
        },
        **error_responses(*_ADMIN),
    },
)
async def create_concert(body: ConcertCreate, _: AdminUser, concerts: ConcertsDep) -> ConcertRead:
    """Create a concert and its layout (organisers only)."""
    return await concerts.create(body)


@router.patch(
    "/{concert_id}",
    response_model=ConcertRead,
    responses=error_responses(
        *_ADMIN, ConcertNotFound, LayoutLocked, ConcertCancelled, ConcertConflict
    ),
)
async def patch_concert(
    concert_id: str,
    body: ConcertPatch,
    _: AdminUser,
    concerts: ConcertsDep,
) -> ConcertRead:
    """Change a concert; the layout is locked once seats are held or sold (organisers only)."""
    return await concerts.patch(concert_id, body)


@router.post(
    "/{concert_id}/cancel",
    response_model=ConcertRead,
    responses=error_responses(
        *_ADMIN, ConcertNotFound, ConcertCancelled, ConcertStarted, ConcertConflict
    ),
)
async def cancel_concert(
    concert_id: str,
    _: AdminUser,
    concerts: ConcertsDep,
    c: ContainerDep,
) -> ConcertRead:
    """Cancel a concert that has not started (organisers only): sales stop at once, and a
    background job refunds every confirmed order (once) and cancels every order waiting for
    payment; buyers are mailed. `cancellation` in the concert shows the job's progress."""
    cancelled = await concerts.cancel(concert_id)
    await enqueue(c.redis, concert_id)
    return cancelled

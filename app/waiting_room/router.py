"""POST/GET /concerts/{id}/queue: join the waiting room, and ask where you are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from app.api import API_PREFIX
from app.concerts.errors import ConcertNotFound
from app.deps import AdminUser, ConcertsDep, ContainerDep, CurrentUser
from app.errors import Forbidden, NotAuthenticated, error_responses
from app.platform.ratelimit import route_limits
from app.waiting_room.challenge import ChallengeRead
from app.waiting_room.errors import (
    ChallengeFailed,
    ChallengeRequired,
    QueueChallengeOff,
    QueueNotEnabled,
    QueueNotJoined,
    QueueNotOpen,
)
from app.waiting_room.schemas import QueueJoin, QueueStatsRead, QueueStatus

router = APIRouter(prefix=API_PREFIX, tags=["waiting room"])


@router.post(
    "/concerts/{concert_id}/queue",
    openapi_extra=route_limits(ip="queue"),  # joins count per address in their own window
    response_model=QueueStatus,
    response_model_by_alias=True,
    responses=error_responses(
        NotAuthenticated,
        ChallengeRequired,
        ChallengeFailed,
        ConcertNotFound,
        QueueNotEnabled,
        QueueNotOpen,
    ),
)
async def join_queue(
    concert_id: str,
    user: CurrentUser,
    c: ContainerDep,
    concerts: ConcertsDep,
    body: Annotated[QueueJoin | None, Body()] = None,
) -> QueueStatus:
    """Join the concert's waiting room. Joining again keeps your place. Everyone who joins
    before the on-sale gets a random place at on-sale time; later, first come first served.
    Poll `GET` after `poll_after_seconds`; once admitted, the answer carries your pass.

    With the queue's `challenge` on, a newcomer sends a solved proof-of-work challenge
    (`GET .../queue/challenge`) as `{"altcha": "<payload>"}`: none is 403 ChallengeRequired;
    a wrong, expired, already used or another concert's one 403 ChallengeFailed. Someone
    already in the line (or admitted) keeps their place without one. No body is needed when
    the challenge is off."""
    concert = await concerts.load(concert_id)
    return await c.waiting_room.join(concert, user.id, body.altcha if body else None)


@router.get(
    "/concerts/{concert_id}/queue/challenge",
    openapi_extra=route_limits(ip="challenge"),  # per address, in a window of their own
    response_model=ChallengeRead,
    response_model_by_alias=True,
    responses=error_responses(ConcertNotFound, QueueChallengeOff),
)
async def queue_challenge(
    concert_id: str, c: ContainerDep, concerts: ConcertsDep, response: Response
) -> ChallengeRead:
    """A proof-of-work challenge (ALTCHA v2, for the `altcha` web component) to solve before
    joining this concert's waiting room or registering for its lottery: good for this concert
    only, once, for ALTCHA_CHALLENGE_TTL_SECONDS. 409 QueueChallengeOff when the concert's
    queue asks for none. No login needed. Never cached: each answer is a new challenge."""
    concert = await concerts.load(concert_id)
    challenge = await c.challenges.issue(concert)
    response.headers["Cache-Control"] = "no-store"
    return challenge


@router.get(
    "/concerts/{concert_id}/queue",
    response_model=QueueStatus,
    response_model_by_alias=True,
    responses=error_responses(NotAuthenticated, ConcertNotFound, QueueNotEnabled, QueueNotJoined),
)
async def queue_status(
    concert_id: str, user: CurrentUser, c: ContainerDep, concerts: ConcertsDep
) -> QueueStatus:
    """Your place: position, people ahead, an ETA from the measured admission rate, and when
    to ask again. Once admitted: `pass` for the X-Queue-Pass header, valid until
    `pass_expires_at`."""
    concert = await concerts.load(concert_id)
    return await c.waiting_room.status(concert, user.id)


@router.get(
    "/concerts/{concert_id}/queue/stats",
    response_model=QueueStatsRead,
    responses=error_responses(NotAuthenticated, Forbidden, ConcertNotFound),
)
async def queue_stats(
    concert_id: str, _: AdminUser, c: ContainerDep, concerts: ConcertsDep
) -> QueueStatsRead:
    """Organisers: people waiting, active shoppers, admitted so far and the measured rate."""
    concert = await concerts.load(concert_id)
    stats = await c.waiting_room.engine.stats(concert.id)
    return QueueStatsRead(
        enabled=concert.queue.enabled,
        waiting=stats.waiting,
        active_shoppers=stats.active,
        admitted_total=stats.admitted_total,
        admitted_per_minute=round(stats.measured_per_minute, 1),
        admit_per_minute=concert.queue.admit_per_minute,
        max_active=concert.queue.max_active,
    )

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from app.api import API_PREFIX
from app.concerts.errors import ConcertNotFound
from app.deps import AdminUser, ContainerDep
from app.door.errors import AlreadyCheckedIn, InvalidTicket, TicketRevoked
from app.door.schemas import CheckInRead, CheckInRefused, CheckInRequest
from app.door.service import DoorCheckIn
from app.errors import Forbidden, NotAuthenticated, error_responses
from app.platform.ratelimit import route_limits

router = APIRouter(prefix=f"{API_PREFIX}/concerts", tags=["door"])


async def get_door(c: ContainerDep) -> DoorCheckIn:
    return c.door


DoorDep = Annotated[DoorCheckIn, Depends(get_door)]


def _responses() -> dict[int | str, dict[str, Any]]:
    responses = error_responses(
        NotAuthenticated, Forbidden, ConcertNotFound, InvalidTicket, AlreadyCheckedIn, TicketRevoked
    )
    responses[409]["model"] = CheckInRefused  # the 409s carry the first time or the reason
    return responses


@router.post(
    "/{concert_id}/check-ins",
    response_model=CheckInRead,
    responses=_responses(),
    # An organiser's scans count in one window of their own instead of the address's and the
    # user's: a venue's scanners share the account and often one address.
    openapi_extra=route_limits(organisers="door"),
)
async def check_in(
    concert_id: str, body: CheckInRequest, _: AdminUser, door: DoorDep
) -> CheckInRead:
    """Scan a ticket at the door (organisers only). 200: admit, with the seat. 409
    `AlreadyCheckedIn` (with `checked_in_at`, the first scan) or `TicketRevoked` (refunded or
    cancelled, in `reason`) and 422 `InvalidTicket` (forged, or another concert's): do not
    admit. Of concurrent scans of one code exactly one is admitted."""
    return await door.check_in(concert_id, body.code)

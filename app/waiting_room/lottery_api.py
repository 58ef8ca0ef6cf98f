"""Presale registration and the lottery over HTTP (docs/api.md, "Presale lottery").

POST /concerts/{id}/registrations, GET /concerts/{id}/registrations/me,
GET /concerts/{id}/lottery and GET /concerts/{id}/lottery/entries. The draw itself: lottery.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from app.api import API_PREFIX
from app.concerts.errors import ConcertNotFound
from app.deps import ConcertsDep, ContainerDep, CurrentUser
from app.errors import Conflict, Forbidden, NotAuthenticated, NotFound, error_responses
from app.schemas import RequestBody
from app.storage.records import Concert
from app.waiting_room.errors import ChallengeFailed, ChallengeRequired
from app.waiting_room.lottery import ALGORITHM, Draw, LotteryService, Standing

router = APIRouter(prefix=API_PREFIX, tags=["waiting room"])

ENTRIES_PAGE_MAX = 10_000


class NotALottery(NotFound):
    detail = "This concert has no presale lottery: its waiting room is first come, first served."


class RegistrationClosed(Conflict):
    detail = "Registration for this concert's lottery is not open."


class EmailNotVerified(Forbidden):
    detail = (
        "Verify your email address before registering: open the link we mailed you when you "
        "signed up (you can have it sent again from your account page)."
    )


class NotRegistered(NotFound):
    detail = "You have not registered for this concert's lottery."


class LotteryNotDrawn(Conflict):
    detail = "The lottery has not been drawn yet: the entry list is published with the draw."


class RegistrationCreate(RequestBody):
    altcha: str | None = Field(
        default=None,
        max_length=4096,
        description="With queue.challenge on: a solved challenge of GET "
        "/concerts/{id}/queue/challenge (as for joining the queue).",
    )


class RegistrationRead(BaseModel):
    status: Literal["registered", "won", "lost"]
    entry_id: str = Field(description="Your entry in the published entry list (names nobody).")
    registered_at: datetime
    draw_at: datetime | None = Field(description="When registration closes and the draw runs.")
    enter_at: datetime | None = Field(
        default=None,
        description="Won: the earliest time the waiting room admits you (on-sale plus the "
        "winners ahead of you at the admission rate). Join the queue before it.",
    )
    position: int | None = Field(default=None, description="Won: your place among the winners.")
    waitlist_position: int | None = Field(
        default=None,
        description="Lost: your place on the waitlist. Seats left after the winners' window "
        "are offered to the waitlist in this order.",
    )
    waitlist_from: datetime | None = Field(
        default=None, description="Lost: when the winners' window ends and the waitlist starts."
    )
    message: str


class LotteryRead(BaseModel):
    mode: Literal["lottery"] = "lottery"
    state: Literal["upcoming", "open", "closed", "drawn"]
    registration_opens_at: datetime
    registration_closes_at: datetime
    on_sale_at: datetime
    winners: int = Field(description="Configured number of winners.")
    registrations: int
    seed_sha256: str = Field(
        description="SHA-256 (hex) of the seed's hex text: the commitment, fixed before "
        "registration opens."
    )
    algorithm: str = ALGORITHM
    seed: str | None = Field(default=None, description="Revealed with the draw.")
    drawn_at: datetime | None = None
    entries: int | None = Field(default=None, description="Entries in the draw.")
    winners_drawn: int | None = Field(default=None, description="min(winners, entries).")
    waitlist: int | None = None
    entries_sha256: str | None = Field(
        default=None,
        description="SHA-256 of the entry ids in ascending order joined by newlines.",
    )
    order_sha256: str | None = Field(
        default=None, description="SHA-256 of the entry ids in draw order joined by newlines."
    )
    entries_url: str | None = None
    winners_window_ends_at: datetime | None = Field(
        default=None,
        description="Until then only winners are admitted; then the waitlist in order, then "
        "everyone else.",
    )


class EntriesPage(BaseModel):
    order: Literal["sorted", "draw"]
    offset: int
    total: int
    items: list[str]
    next_offset: int | None


def _require_lottery(concert: Concert) -> None:
    q = concert.queue
    if q.mode != "lottery" or q.registration_opens_at is None or q.registration_closes_at is None:
        raise NotALottery()


def _lottery(c: ContainerDep) -> LotteryService:
    lottery = c.waiting_room.lottery
    assert lottery is not None
    return lottery


def _window_words(concert: Concert) -> str:
    q = concert.queue
    assert q.registration_opens_at is not None
    assert q.registration_closes_at is not None
    now = datetime.now(UTC)
    if now < q.registration_opens_at:
        return f"Registration opens at {_iso(q.registration_opens_at)}; register then."
    return (
        f"Registration closed at {_iso(q.registration_closes_at)}: the draw has picked (or is "
        "picking) who buys first. You can still join the waiting room after the draw; seats "
        "left after the winners and the waitlist go to everyone else."
    )


@router.post(
    "/concerts/{concert_id}/registrations",
    response_model=RegistrationRead,
    status_code=201,
    responses={
        200: {
            "description": "Registered already: the same registration.",
            "model": RegistrationRead,
        },
        **error_responses(
            NotAuthenticated,
            ConcertNotFound,
            NotALottery,
            EmailNotVerified,
            ChallengeRequired,
            ChallengeFailed,
            RegistrationClosed,
        ),
    },
)
async def register(
    concert_id: str,
    user: CurrentUser,
    c: ContainerDep,
    concerts: ConcertsDep,
    response: Response,
    body: RegistrationCreate | None = None,
) -> RegistrationRead:
    """Register for the concert's presale lottery, once per account: 201 the first time, 200
    with the same registration after. Only between `queue.registration_opens_at` and
    `queue.registration_closes_at` (else 409 RegistrationClosed, saying when). Needs a
    verified email address (403 EmailNotVerified) unless LOTTERY_REQUIRE_VERIFIED_EMAIL is
    false, and with `queue.challenge` on a solved challenge in `altcha` (403
    ChallengeRequired / ChallengeFailed). The draw: see GET /concerts/{id}/lottery."""
    concert = await concerts.load(concert_id)
    _require_lottery(concert)
    lottery = _lottery(c)
    standing = await lottery.standing(concert, user.id)
    if standing is not None:  # idempotent: no challenge or check spent on a repeat
        response.status_code = 200
        return _read(lottery, concert, *standing)
    if concert.cancelled_at is not None:
        raise RegistrationClosed(
            "This concert was cancelled, so its lottery is off: there is nothing to register for."
        )
    q = concert.queue
    assert q.registration_opens_at is not None
    assert q.registration_closes_at is not None
    now = datetime.now(UTC)
    if not q.registration_opens_at <= now < q.registration_closes_at:
        raise _closed(concert)
    if c.settings.lottery_require_verified_email:
        account = await c.store.users.get(user.id)
        if account is None or account.email_verified_at is None:
            raise EmailNotVerified()
    if q.challenge:
        await c.challenges.check(concert, body.altcha if body is not None else None)
    # The store's write is the registration; then Redis mirrors it. If Redis fails after the
    # write the answer is an error, but the registration stands: asking again says 200.
    outcome, registration = await lottery.register(concert, user.id)
    if outcome in ("early", "closed"):  # the window by now, or the draw is done
        raise _closed(concert)
    response.status_code = 201 if outcome == "created" else 200
    return _read(lottery, concert, Standing(registration, None), None)


def _iso(moment: datetime | None) -> str | None:
    """As the API writes times elsewhere (UTC, 'Z')."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _closed(concert: Concert) -> RegistrationClosed:
    q = concert.queue
    return RegistrationClosed(
        _window_words(concert),
        registration_opens_at=_iso(q.registration_opens_at),
        registration_closes_at=_iso(q.registration_closes_at),
    )


@router.get(
    "/concerts/{concert_id}/registrations/me",
    response_model=RegistrationRead,
    responses=error_responses(NotAuthenticated, ConcertNotFound, NotALottery, NotRegistered),
)
async def my_registration(
    concert_id: str, user: CurrentUser, c: ContainerDep, concerts: ConcertsDep
) -> RegistrationRead:
    """Your registration: `registered` until the draw, then `won` (with `enter_at`, the
    earliest time the waiting room admits you) or `lost` (with your `waitlist_position`)."""
    concert = await concerts.load(concert_id)
    _require_lottery(concert)
    lottery = _lottery(c)
    standing = await lottery.standing(concert, user.id)
    if standing is None:
        raise NotRegistered(
            "You have not registered for this concert's lottery"
            + (
                ": register while registration is open."
                if concert.queue.registration_closes_at is not None
                and datetime.now(UTC) < concert.queue.registration_closes_at
                else "; registration is closed."
            )
        )
    return _read(lottery, concert, *standing)


def _read(
    lottery: LotteryService, concert: Concert, standing: Standing, draw: Draw | None
) -> RegistrationRead:
    reg = standing.registration
    closes = concert.queue.registration_closes_at
    base = RegistrationRead(
        status="registered",
        entry_id=reg.entry_id,
        registered_at=reg.registered_at,
        draw_at=closes,
        message="You are registered. The draw is when registration closes"
        + (f" ({_iso(closes)})." if closes else "."),
    )
    if draw is None or standing.rank is None:
        return base
    if standing.rank < draw.winners:
        enter_at = lottery.enter_at(concert, standing.rank)
        return base.model_copy(
            update={
                "status": "won",
                "enter_at": enter_at,
                "position": standing.rank + 1,
                "message": f"You won: join the waiting room; it admits you from {_iso(enter_at)}.",
            }
        )
    place = standing.rank - draw.winners + 1
    window_ends = lottery.window_ends(concert, draw)
    return base.model_copy(
        update={
            "status": "lost",
            "waitlist_position": place,
            "waitlist_from": window_ends,
            "message": f"Not this time: you are number {place} on the waitlist. Seats left "
            f"after the winners' window ({_iso(window_ends)}) are offered to the waitlist "
            "in order; join the waiting room to keep your place.",
        }
    )


@router.get(
    "/concerts/{concert_id}/lottery",
    response_model=LotteryRead,
    responses=error_responses(ConcertNotFound, NotALottery),
)
async def lottery_state(concert_id: str, c: ContainerDep, concerts: ConcertsDep) -> LotteryRead:
    """The lottery, public: the registration window, the seed's SHA-256 hash (published before
    anyone registers), and after the draw the seed, the entries' count and digests and where
    to get the entry list. To check a draw: take the entry ids (GET .../lottery/entries),
    check SHA-256(seed) = seed_sha256, and order them by SHA-256 of '<seed>:<entry id>'
    ascending (ties by entry id): the first `winners_drawn` won (scripts/verify-lottery.py)."""
    concert = await concerts.load(concert_id)
    _require_lottery(concert)
    lottery = _lottery(c)
    q = concert.queue
    assert q.registration_opens_at is not None
    assert q.registration_closes_at is not None
    draw = await lottery.drawn(concert)
    now = datetime.now(UTC)
    state: Literal["upcoming", "open", "closed", "drawn"] = (
        "drawn"
        if draw is not None
        else "upcoming"
        if now < q.registration_opens_at
        else "open"
        if now < q.registration_closes_at
        else "closed"
    )
    read = LotteryRead(
        state=state,
        registration_opens_at=q.registration_opens_at,
        registration_closes_at=q.registration_closes_at,
        on_sale_at=concert.on_sale_at,
        winners=q.winners,
        registrations=draw.entries if draw is not None else await lottery.count(concert),
        seed_sha256=lottery.seed_sha256(concert.id),
    )
    if draw is None:
        return read
    return read.model_copy(
        update={
            "seed": draw.seed,
            "drawn_at": draw.drawn_at,
            "entries": draw.entries,
            "winners_drawn": draw.winners,
            "waitlist": draw.entries - draw.winners,
            "entries_sha256": draw.entries_sha256,
            "order_sha256": draw.order_sha256,
            "entries_url": f"{API_PREFIX}/concerts/{concert.id}/lottery/entries",
            "winners_window_ends_at": lottery.window_ends(concert, draw),
        }
    )


@router.get(
    "/concerts/{concert_id}/lottery/entries",
    response_model=EntriesPage,
    responses=error_responses(ConcertNotFound, NotALottery, LotteryNotDrawn),
)
async def lottery_entries(
    concert_id: str,
    c: ContainerDep,
    concerts: ConcertsDep,
    order: Annotated[Literal["sorted", "draw"], Query()] = "sorted",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=ENTRIES_PAGE_MAX)] = 1000,
) -> EntriesPage:
    """The entry ids of the draw, public, a page at a time: `sorted` (ascending, the list the
    draw is recomputed from) or `draw` (the draw's order: winners, then the waitlist). Ask
    again with `offset=next_offset` until it is null."""
    concert = await concerts.load(concert_id)
    _require_lottery(concert)
    lottery = _lottery(c)
    draw = await lottery.current(concert)  # drawn again from the store if Redis lost it
    if draw is None:
        raise LotteryNotDrawn()
    items = await lottery.engine.page(
        concert.id, "sorted" if order == "sorted" else "order", offset, limit
    )
    end = offset + len(items)
    return EntriesPage(
        order=order,
        offset=offset,
        total=draw.entries,
        items=items,
        # An empty page ends the list even short of `total` (Redis lost the lists).
        next_offset=end if items and end < draw.entries else None,
    )

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, model_validator

from app.schemas import RequestBody, ResponseBody
from app.storage.records import DEFAULT_CHALLENGE_DIFFICULTY, QueueMode

MAX_SEATS_PER_CONCERT = 100_000

Text = Annotated[str, Field(min_length=1, max_length=200)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]
ConcertStatus = Literal["scheduled", "on_sale", "sold_out", "ended", "cancelled"]

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    """Refused (422) unless it is a time between 1970 and 2999 in UTC: year 1 with a positive
    offset has no UTC equivalent at all, and turning it into one raised OverflowError, a 500
    (found by Schemathesis). No concert sells tickets for other years."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time between 1970 and 2999") from None
    if not _EARLIEST <= utc < _LATEST:
        raise ValueError("must be a time between 1970 and 2999")
    return value


def _text(value: object) -> object:
    """ISO 8601 text only, as documented: pydantic would also take a number as Unix time (so
    `"on_sale_at": 0` created a concert on sale since 1970; found by Schemathesis)."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


EventTime = Annotated[AwareDatetime, BeforeValidator(_text), AfterValidator(_plausible)]


# Files of the zoneinfo directory that zoneinfo opens but that name no place: the server's own
# zone and tzdata's placeholders, and the copies of every zone some systems keep under posix/
# and right/ (leap seconds). Browsers know none of them.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_DIRECTORIES = ("posix/", "right/")


def _iana_zone(value: str) -> str:
    """An IANA time zone name that zoneinfo knows ("Europe/Amsterdam", "UTC")."""
    try:
        if value in _NOT_ZONES or value.startswith(_NOT_ZONE_DIRECTORIES):
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: a name zoneinfo refuses outright (a path, "..", a NUL character);
        # OSError: a directory of zones ("Europe") on some systems.
        raise ValueError(
            "must be an IANA time zone such as Europe/Amsterdam or America/New_York"
        ) from None
    return value


TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The venue's IANA time zone (e.g. Europe/Amsterdam); times are shown in it",
        examples=["Europe/Amsterdam"],
    ),
    AfterValidator(_iana_zone),
]


class Venue(RequestBody):
    name: Text
    city: Annotated[str, Field(min_length=1, max_length=100)]
    time_zone: TimeZone = "UTC"


class QueueConfig(RequestBody):
    enabled: bool = False
    admit_per_minute: int = Field(default=600, ge=1, le=1_000_000, strict=True)
    max_active: int = Field(default=2000, ge=1, le=1_000_000, strict=True)
    opens_at: EventTime | None = Field(
        default=None,
        description="When buyers may start joining the queue (default: as soon as it is on). "
        "Everyone who joins before on_sale_at gets a random place at on-sale time.",
    )
    challenge: bool = Field(
        default=False,
        description="Joining (and registering) needs a solved proof-of-work challenge "
        "(GET /concerts/{id}/queue/challenge).",
    )
    challenge_difficulty: int = Field(
        default=DEFAULT_CHALLENGE_DIFFICULTY,
        ge=1_000,
        le=10_000_000,
        strict=True,
        description="The challenge's largest number: a device tries about half of it.",
    )
    mode: QueueMode = Field(
        default="fifo",
        description="fifo: anyone may join. lottery: fans register between "
        "registration_opens_at and registration_closes_at; a draw picks `winners`, who enter "
        "first, in draw order.",
    )
    registration_opens_at: EventTime | None = None
    registration_closes_at: EventTime | None = None
    winners: int = Field(default=0, ge=0, le=1_000_000, strict=True)

    @model_validator(mode="after")
    def _check_lottery(self) -> QueueConfig:
        if self.mode != "lottery":
            return self
        if not self.enabled:
            raise ValueError("a lottery needs the waiting room: set queue.enabled to true")
        if self.registration_opens_at is None or self.registration_closes_at is None:
            raise ValueError("a lottery needs registration_opens_at and registration_closes_at")
        if self.registration_opens_at >= self.registration_closes_at:
            raise ValueError("registration_opens_at must be before registration_closes_at")
        if self.winners < 1:
            raise ValueError("a lottery needs at least 1 winner: set queue.winners")
        return self


class SectionCreate(RequestBody):
    name: Annotated[str, Field(min_length=1, max_length=60)]
    # Integers are strict in every request body: "2", true and 2.0 are refused, not read as 2
    # (tests/security/test_strict_numbers.py finds every integer field).
    price_cents: int = Field(ge=0, le=100_000_000, strict=True)
    rows: int = Field(ge=1, le=200, strict=True, description="Rows are labelled A, B, C ...")
    seats_per_row: int = Field(ge=1, le=500, strict=True, description="Seats are numbered 1..n")


def _check_layout(sections: list[SectionCreate] | None) -> None:
    if sections is not None:
        total = sum(s.rows * s.seats_per_row for s in sections)
        if total > MAX_SEATS_PER_CONCERT:
            raise ValueError(f"a concert has at most {MAX_SEATS_PER_CONCERT} seats (got {total})")


class ConcertCreate(RequestBody):
    title: Text
    artist: Text
    genre: Annotated[str, Field(min_length=1, max_length=50)]
    description: str = Field(default="", max_length=5000)
    venue: Venue
    starts_at: EventTime
    on_sale_at: EventTime
    currency: Currency
    max_tickets_per_user: int = Field(default=8, ge=1, le=100, strict=True)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    sections: list[SectionCreate] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _check(self) -> ConcertCreate:
        if self.on_sale_at >= self.starts_at:
            raise ValueError("on_sale_at must be before starts_at")
        closes = self.queue.registration_closes_at
        if self.queue.mode == "lottery" and closes is not None and closes > self.on_sale_at:
            raise ValueError("queue.registration_closes_at must not be after on_sale_at")
        _check_layout(self.sections)
        return self


class ConcertPatch(RequestBody):
    """Every field optional; `sections` replaces the whole layout (refused once seats sold)."""

    title: Text | None = None
    artist: Text | None = None
    genre: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    description: str | None = Field(default=None, max_length=5000)
    venue: Venue | None = None
    starts_at: EventTime | None = None
    on_sale_at: EventTime | None = None
    currency: Currency | None = None
    max_tickets_per_user: int | None = Field(default=None, ge=1, le=100, strict=True)
    queue: QueueConfig | None = None
    sections: list[SectionCreate] | None = Field(default=None, min_length=1, max_length=50)

    @model_validator(mode="after")
    def _check(self) -> ConcertPatch:
        _check_layout(self.sections)
        return self


class VenueRead(ResponseBody):
    name: str
    city: str
    time_zone: str = Field(description="The venue's IANA time zone; times are shown in it")


class PriceRange(ResponseBody):
    min_cents: int
    max_cents: int


class QueueRead(ResponseBody):
    enabled: bool
    admit_per_minute: int
    max_active: int
    opens_at: datetime | None = None
    challenge: bool = False
    challenge_difficulty: int = DEFAULT_CHALLENGE_DIFFICULTY
    mode: QueueMode = "fifo"
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    winners: int = 0


class RowRead(ResponseBody):
    """A row of `count` seats numbered from 1: seat n's id is `<section id>-<label>-<n>`."""

    label: str
    count: int
    seats: list[str] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="The seat ids spelled out: only with `?expand=seat_ids`",
    )


class SectionRead(ResponseBody):
    id: str
    name: str
    price_cents: int
    rows: list[RowRead]


class ConcertSummary(ResponseBody):
    id: str
    title: str
    artist: str
    genre: str
    venue: VenueRead
    starts_at: AwareDatetime
    on_sale_at: AwareDatetime
    status: ConcertStatus
    currency: str
    price_range: PriceRange
    seats_total: int
    seats_available: int


class CancellationRead(ResponseBody):
    """A cancelled concert's winding-up: its orders refunded (confirmed ones) and cancelled
    (those waiting for payment) so far, out of `orders_total`; `failed` ones are retried."""

    started_at: AwareDatetime
    finished_at: AwareDatetime | None = Field(
        description="When every order was wound up; null while the job runs"
    )
    orders_total: int
    refunded: int
    cancelled: int
    failed: int


class ConcertRead(ConcertSummary):
    description: str
    max_tickets_per_user: int
    queue: QueueRead
    sections: list[SectionRead]
    cancellation: CancellationRead | None = Field(
        default=None, description="Set once an organiser cancelled the concert"
    )


class ConcertPage(ResponseBody):
    items: list[ConcertSummary]
    next_cursor: str | None

"""Domain records the store speaks. Backends translate to and from their own types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, Literal, TypeVar

Role = Literal["user", "admin"]
QueueMode = Literal["fifo", "lottery"]
# The proof-of-work challenge's largest number (ALTCHA's maxnumber): a fan's device tries about
# half of it on average (docs/waiting-room.md, docs/performance.md).
DEFAULT_CHALLENGE_DIFFICULTY = 100_000


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str  # stored lower-cased; unique
    name: str
    password_hash: str
    role: Role
    created_at: datetime
    email_verified_at: datetime | None = None  # None: the address is not verified yet


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One issued refresh token. `family_id` links every token rotated from one login."""

    jti: str
    user_id: str
    family_id: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


class RefreshOutcome(StrEnum):
    ROTATED = "rotated"  # it was live; now marked used
    REUSED = "reused"  # it had already been used: a stolen token is being replayed
    REVOKED = "revoked"  # its family was revoked
    EXPIRED = "expired"
    UNKNOWN = "unknown"


def why_not_rotated(token: RefreshToken | None) -> tuple[RefreshOutcome, RefreshToken | None]:
    """Why a consume did not rotate this token (as read after the conditional write failed)."""
    if token is None:
        return RefreshOutcome.UNKNOWN, None
    # A revoked family wins over reuse: the caller must not treat it as a fresh theft.
    if token.revoked_at is not None:
        return RefreshOutcome.REVOKED, token
    if token.used_at is not None:
        return RefreshOutcome.REUSED, token
    return RefreshOutcome.EXPIRED, token


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    seat_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    name: str
    price_cents: int
    rows: tuple[Row, ...]

    @property
    def seat_count(self) -> int:
        return sum(len(r.seat_ids) for r in self.rows)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    enabled: bool = False
    admit_per_minute: int = 600
    max_active: int = 2000
    opens_at: datetime | None = None  # joins before this are refused; None: open any time
    # Joining (and registering) needs a solved proof-of-work challenge (app/waiting_room/).
    challenge: bool = False
    challenge_difficulty: int = DEFAULT_CHALLENGE_DIFFICULTY
    # "fifo": everyone may join; "lottery": registration in a window, then a draw of `winners`.
    mode: QueueMode = "fifo"
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    winners: int = 0


@dataclass(frozen=True, slots=True)
class Concert:
    id: str
    title: str
    artist: str
    genre: str
    description: str
    venue_name: str
    venue_city: str
    starts_at: datetime
    on_sale_at: datetime
    currency: str
    max_tickets_per_user: int
    queue: QueueSettings
    sections: tuple[Section, ...]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    # The venue's IANA time zone: times are shown in it. Concerts stored before it existed
    # read as UTC (a backend may leave the field out).
    venue_time_zone: str = "UTC"
    # Set once, when an organiser cancels the concert (sales stop); None while it is on. The
    # cancellation job's progress: the concert's orders refunded and cancelled since, those it
    # could not wind up yet (retried), and when it found none left (None while it runs).
    # Concerts stored before these existed read as not cancelled.
    cancelled_at: datetime | None = None
    cancellation_total: int = 0  # orders to wind up: refunded + cancelled + still open
    cancellation_refunded: int = 0
    cancellation_cancelled: int = 0
    cancellation_failed: int = 0
    cancellation_finished_at: datetime | None = None

    @property
    def seats_total(self) -> int:
        return sum(s.seat_count for s in self.sections)


@dataclass(frozen=True, slots=True)
class ConcertFilter:
    q: str | None = None
    city: str | None = None
    genre: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class OrderTransition:
    from_status: OrderStatus
    to_status: OrderStatus
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    user_id: str
    concert_id: str
    hold_id: str
    seat_ids: tuple[str, ...]
    amount_cents: int
    currency: str
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    payment_intent_id: str | None = None
    version: int = 1
    history: tuple[OrderTransition, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str
    order_id: str
    user_id: str
    concert_id: str
    seat_id: str
    section: str
    row: str
    number: int
    code: str
    issued_at: datetime
    # Set once, by the first door scan (TicketRepository.check_in); None until then.
    checked_in_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LotteryRegistration:
    """One account's entry in a concert's presale lottery (app/waiting_room/lottery.py). The
    store's record is the registration: Redis only mirrors it, and the draw is computed from
    the store's entry ids. `entry_id` names no account (an HMAC of concert and user)."""

    concert_id: str
    user_id: str
    entry_id: str
    registered_at: datetime

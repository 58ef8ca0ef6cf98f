"""Ports of the durable store. Services depend on these Protocols, never on a backend.

Every backend (SQL now; MongoDB and DynamoDB later) implements them, raises only the errors
of `app.storage.errors`, and passes the one contract suite in `tests/storage/`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from app.storage.records import (
    Concert,
    ConcertFilter,
    LotteryRegistration,
    Order,
    OrderStatus,
    Page,
    RefreshOutcome,
    RefreshToken,
    Role,
    Ticket,
    User,
)


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Insert; DuplicateKey if the (lower-cased) email is taken."""

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_email(self, email: str) -> User | None:
        """Case-insensitive lookup."""

    async def set_role(self, user_id: str, role: Role) -> None:
        """RecordNotFound if there is no such user."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """RecordNotFound if there is no such user."""

    async def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        """Store `new_hash` if the stored hash is still `old_hash` (a rehash at login must not
        undo a password change made meanwhile); whether it was replaced."""

    async def verify_email(self, user_id: str, email: str, at: datetime) -> User | None:
        """Mark the account's address verified at `at` if the account's (lower-cased) email
        is still `email`; idempotent: an address verified before keeps its first time. The
        account as stored afterwards, or None if there is no such account or its address is
        another one now (a link sent to an old address verifies nothing)."""


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def get(self, jti: str) -> RefreshToken | None:
        """The token as stored now (a revocation committed before the call is seen)."""

    async def consume(self, jti: str, now: datetime) -> tuple[RefreshOutcome, RefreshToken | None]:
        """Atomically mark a live token used (ROTATED). A token that was already used answers
        REUSED, one whose family was revoked REVOKED, a lapsed one EXPIRED, else UNKNOWN.
        Exactly one of many concurrent consumers of one token gets ROTATED."""

    async def revoke_family(self, family_id: str, now: datetime) -> int:
        """Revoke every token of the family; returns how many were live."""

    async def revoke_user(self, user_id: str, now: datetime) -> int:
        """Revoke every token of every family of the user (a password change ends all of its
        logins); returns how many were live. Tokens added afterwards are live."""


class ConcertRepository(Protocol):
    async def add(self, concert: Concert) -> None:
        """Insert; DuplicateKey if the id exists."""

    async def get(self, concert_id: str) -> Concert | None: ...

    async def get_version(self, concert_id: str) -> int | None:
        """The stored concert's version without reading its layout (None: no such concert).
        The concert cache asks this before reading a 50,000-seat layout again."""

    async def update(self, concert: Concert, expected_version: int) -> Concert:
        """Replace the concert if its stored version is `expected_version`; the stored copy
        gets version `expected_version + 1`. VersionConflict / RecordNotFound otherwise."""

    async def search(self, flt: ConcertFilter, limit: int, cursor: str | None) -> Page[Concert]:
        """Concerts matching the filter, by (starts_at, id). `q` matches title or artist,
        case-insensitive substring; `city` and `genre` are case-insensitive equality; the
        date range bounds `starts_at` (inclusive). InvalidCursor for a cursor it did not issue."""


class OrderRepository(Protocol):
    async def add(self, order: Order) -> None:
        """Insert; DuplicateKey if the id or the hold id already has an order."""

    async def get(self, order_id: str) -> Order | None: ...

    async def get_by_hold(self, hold_id: str) -> Order | None: ...

    async def get_by_payment_intent(self, payment_intent_id: str) -> Order | None: ...

    async def list_for_user(self, user_id: str, limit: int) -> list[Order]:
        """Newest first."""

    async def list_for_concert(
        self, concert_id: str, statuses: Collection[OrderStatus]
    ) -> list[Order]:
        """Every order of the concert in one of these statuses (rebuilding seat state)."""

    async def list_due(self, status: OrderStatus, due_before: datetime, limit: int) -> list[Order]:
        """Orders in `status` whose `expires_at` is before `due_before`, oldest first."""

    async def transition(
        self,
        order_id: str,
        expected_version: int,
        to_status: OrderStatus,
        reason: str,
        at: datetime,
    ) -> Order:
        """Conditional write: set the status, bump the version and append a history entry, only
        if the stored version is `expected_version`. VersionConflict / RecordNotFound otherwise.
        Which transitions are legal is the state machine's business, not the store's."""

    async def attach_payment_intent(
        self, order_id: str, expected_version: int, payment_intent_id: str
    ) -> Order:
        """Conditional write of the payment intent id (bumps the version)."""


class SaleRepository(Protocol):
    """One record per sold (concert, seat): the store itself refuses a second sale."""

    async def claim(
        self, concert_id: str, seat_ids: Sequence[str], order_id: str, at: datetime
    ) -> None:
        """Claim every seat for the order, all or nothing. Seats this order already holds
        count as claimed (re-delivery is harmless). SeatsAlreadySold lists the seats another
        order holds; then nothing was written."""

    async def release(self, order_id: str) -> int:
        """Delete the order's claims (a refund puts seats back on sale); returns the count."""

    async def sold_seats(self, concert_id: str) -> dict[str, str]:
        """seat_id -> order_id for every sold seat of the concert."""

    async def count_sold(self, concert_ids: Iterable[str]) -> dict[str, int]:
        """concert_id -> sold seat count (0 for concerts with none)."""


class TicketRepository(Protocol):
    async def add_many(self, tickets: Sequence[Ticket]) -> None:
        """Insert; a ticket whose (order, seat) exists is skipped, so issuing twice is safe."""

    async def list_for_user(self, user_id: str) -> list[Ticket]:
        """Newest first."""

    async def list_for_orders(self, order_ids: Sequence[str]) -> list[Ticket]: ...

    async def get(self, order_id: str, seat_id: str) -> Ticket | None:
        """The ticket of this seat of this order (both are in the signed ticket code)."""

    async def check_in(self, order_id: str, seat_id: str, at: datetime) -> tuple[Ticket, bool]:
        """Conditional write: set `checked_in_at` to `at` only if it is still unset. Returns
        the ticket as stored afterwards and whether this call set it; a later call gets the
        first time back. Exactly one of many concurrent calls for one ticket is first.
        RecordNotFound if there is no such ticket."""

    async def transfer(
        self, order_id: str, seat_id: str, from_user_id: str, to_user_id: str, new_code: str
    ) -> Ticket:
        """Conditional write: give the ticket to `to_user_id` under `new_code` (the old code
        stops matching the stored one), only if it is still `from_user_id`'s and not checked
        in. Returns the ticket as stored afterwards. Exactly one of concurrent transfers (and
        first scans) of one ticket wins; the others get VersionConflict. RecordNotFound if
        there is no such ticket."""


class PaymentEventRepository(Protocol):
    async def record_if_absent(self, event_id: str, event_type: str, received_at: datetime) -> bool:
        """True if the event id was new and is now recorded; False for a duplicate."""

    async def forget(self, event_id: str) -> None:
        """Remove a record (its processing failed, so a redelivery must run it again)."""


class LotteryRegistrationRepository(Protocol):
    """Presale lottery registrations: one per (concert, user), the truth the draw is computed
    from (Redis mirrors them, see docs/waiting-room.md, "Presale lottery")."""

    async def register(self, registration: LotteryRegistration) -> bool:
        """Insert unless the (concert, user) pair is registered already; whether this call
        created it. Exactly one of many concurrent calls for one pair creates it; the others
        leave the first record as it is (read it with `get`)."""

    async def get(self, concert_id: str, user_id: str) -> LotteryRegistration | None: ...

    async def list_for_concert(self, concert_id: str) -> list[LotteryRegistration]:
        """Every registration of the concert, in no particular order (rebuilding Redis and the
        draw: one pass, fine for 100,000 records). Reads what was acknowledged before."""

    async def count(self, concert_id: str) -> int:
        """How many accounts registered for the concert."""

    async def withdraw(self, concert_id: str, user_id: str) -> bool:
        """Delete the registration (one that arrived after the draw was committed is taken
        back); whether there was one."""


class Store(Protocol):
    """One backend, built once in the lifespan from settings."""

    users: UserRepository
    refresh_tokens: RefreshTokenRepository
    concerts: ConcertRepository
    orders: OrderRepository
    sales: SaleRepository
    tickets: TicketRepository
    payment_events: PaymentEventRepository
    lottery_registrations: LotteryRegistrationRepository

    async def initialize(self) -> None:
        """Make the backend ready (migrations, indexes) where that is the backend's job."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    async def close(self) -> None: ...

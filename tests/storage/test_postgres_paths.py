"""PostgreSQL's two paths give the same answers: the sale's statements over plain asyncpg
(app/storage/sql/rawpg.py, what production runs) and the same methods over SQLAlchemy Core
(what SQLite runs, and PostgreSQL with `Database.raw` unset).

The same operations run through both paths, each on its own records, and every answer
(records, booleans, errors) must be the same once the records' ids are set aside; what one path
writes, the other reads back identically.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from datetime import timedelta

import pytest
import pytest_asyncio

from app.storage.errors import SeatsAlreadySold, StoreError
from app.storage.records import OrderStatus
from app.storage.sql import SqlStore
from tests.backends import Backend
from tests.storage.factories import T0, make_order, make_ticket

SEATS = ("floor-A-1", "floor-A-2", "floor-A-3", "floor-B-1")


@pytest_asyncio.fixture(loop_scope="session")
async def both_paths(backend: Backend) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """(plain asyncpg, SQLAlchemy) stores on the one test database."""
    if backend.name != "postgres":
        pytest.skip("only PostgreSQL has the plain asyncpg path")
    sqlalchemy_only = SqlStore(backend.url)
    sqlalchemy_only._db.raw = None
    try:
        yield backend.store, sqlalchemy_only
    finally:
        await sqlalchemy_only.close()


class Transcript:
    """Every answer of one run, with that run's ids replaced by a fixed placeholder."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.lines: list[str] = []

    async def note(self, step: str, call: Awaitable[object]) -> object:
        try:
            answer = await call
        except SeatsAlreadySold as error:
            self.lines.append(f"{step}: SeatsAlreadySold {error.seat_ids}")
            return None
        except StoreError as error:
            # The type is the contract; the wording may differ between the paths.
            self.lines.append(f"{step}: {type(error).__name__}")
            return None
        self.lines.append(f"{step}: {answer!r}".replace(self.tag, "<run>"))
        return answer


async def _sale(store: SqlStore, other: SqlStore, tag: str) -> list[str]:
    """A sale's statements through `store`, each write read back through `other` as well."""
    said = Transcript(tag)
    order = make_order(
        id=f"{tag}-o1",
        user_id=f"{tag}-u",
        hold_id=f"{tag}-h1",
        concert_id=f"{tag}-c",
        seat_ids=SEATS,
    )
    # Two seats of the order and one free seat: none of them may be claimed.
    rival = replace(order, id=f"{tag}-o2", hold_id=f"{tag}-h2", seat_ids=(*SEATS[2:], "floor-C-1"))
    orders, sales = store.orders, store.sales

    await said.note("add", orders.add(order))
    await said.note("add same id", orders.add(replace(order, hold_id=f"{tag}-h9")))
    await said.note("add same hold", orders.add(replace(order, id=f"{tag}-o9")))
    await said.note("get", orders.get(order.id))
    await said.note("get missing", orders.get(f"{tag}-none"))
    await said.note("by hold", orders.get_by_hold(order.hold_id))
    await said.note("attach", orders.attach_payment_intent(order.id, 1, f"{tag}-pi"))
    await said.note("attach stale", orders.attach_payment_intent(order.id, 1, f"{tag}-pi2"))
    await said.note("attach missing", orders.attach_payment_intent(f"{tag}-none", 1, "x"))
    await said.note("by intent", orders.get_by_payment_intent(f"{tag}-pi"))
    await said.note("by intent missing", orders.get_by_payment_intent(f"{tag}-none"))
    confirm = orders.transition(order.id, 2, OrderStatus.CONFIRMED, "paid", T0)
    await said.note("transition", confirm)
    stale = orders.transition(order.id, 2, OrderStatus.REFUNDED, "again", T0)
    await said.note("transition stale", stale)
    missing = orders.transition(f"{tag}-none", 1, OrderStatus.CONFIRMED, "paid", T0)
    await said.note("transition missing", missing)
    await said.note("read back", other.orders.get(order.id))
    assert await other.orders.get(order.id) == await orders.get(order.id)

    at = T0 + timedelta(seconds=1)
    await said.note("claim", sales.claim(order.concert_id, list(SEATS), order.id, at))
    await said.note("claim again", sales.claim(order.concert_id, SEATS[::-1], order.id, at))
    await said.note("claim part", sales.claim(order.concert_id, SEATS[:1], order.id, at))
    await said.note("claim rival", sales.claim(order.concert_id, rival.seat_ids, rival.id, at))
    await said.note("sold", other.sales.sold_seats(order.concert_id))

    tickets = [
        make_ticket(
            id=f"{tag}-t{k}",
            order_id=order.id,
            user_id=order.user_id,
            concert_id=order.concert_id,
            seat_id=seat,
            number=k,
            code=f"{tag}-code{k}",
            issued_at=at,
        )
        for k, seat in enumerate(SEATS, start=1)
    ]
    await said.note("tickets", store.tickets.add_many(tickets))
    await said.note("tickets again", store.tickets.add_many(tickets[::-1]))
    clash = replace(tickets[0], seat_id="floor-Z-1")  # a ticket id that exists
    await said.note("ticket id clash", store.tickets.add_many([clash]))
    await said.note("tickets read", other.tickets.list_for_orders([order.id]))

    events = store.payment_events
    await said.note("event", events.record_if_absent(f"{tag}-ev", "payment_intent.succeeded", at))
    await said.note("event again", events.record_if_absent(f"{tag}-ev", "x", at))
    await said.note("forget", events.forget(f"{tag}-ev"))
    await said.note("forget again", events.forget(f"{tag}-ev"))
    await said.note("event after", events.record_if_absent(f"{tag}-ev", "x", at))
    await said.note("event other", other.payment_events.record_if_absent(f"{tag}-ev", "x", at))
    return said.lines


async def test_plain_asyncpg_and_sqlalchemy_give_the_same_answers(
    both_paths: tuple[SqlStore, SqlStore],
) -> None:
    raw, plain = both_paths
    assert raw._db.raw is not None
    assert plain._db.raw is None

    through_asyncpg = await _sale(raw, plain, f"raw-{uuid.uuid4().hex[:12]}")
    through_sqlalchemy = await _sale(plain, raw, f"sqla-{uuid.uuid4().hex[:12]}")

    assert raw._db.raw._pool is not None  # the first run did go over plain asyncpg
    assert through_asyncpg == through_sqlalchemy

"""What only the MongoDB backend has: stored time format, indexes, transactions that retry
past write conflicts, values BSON refuses, timeouts of a dead server.

The server tests reuse the contract suite's session store of kind "mongo" (the stand-in or
TEST_MONGO_URL; see tests/servers/mongo.py).
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.storage.codec import decode_time, encode_time
from app.storage.errors import InvalidValue, SeatsAlreadySold, StoreUnavailable
from app.storage.mongo import MongoStore
from app.storage.mongo.client import build_client
from app.storage.mongo.concerts import literal_pattern
from app.storage.mongo.sales import sale_id
from app.storage.ports import Store
from app.storage.records import ConcertFilter, OrderStatus

from .factories import T0, make_concert, make_order, make_user, uid

on_mongo = pytest.mark.parametrize(
    "any_store", [pytest.param("mongo", id="mongo", marks=pytest.mark.mongo)], indirect=True
)


@pytest.fixture
def mongo(any_store: Store) -> MongoStore:
    assert isinstance(any_store, MongoStore)
    return any_store


# --------------------------------------------------------------------------- no server


def test_stored_times_keep_microseconds_and_sort_like_the_instants() -> None:
    instants = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1000, 1, 1, tzinfo=UTC),
        T0,
        T0 + timedelta(microseconds=1),
        datetime(2030, 6, 1, 14, 0, 0, 123_455, tzinfo=timezone(timedelta(hours=2))),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]

    encoded = [encode_time(i) for i in instants]

    assert {len(e) for e in encoded} == {len("2030-06-01T12:00:00.123456Z")}
    assert sorted(encoded) == [encode_time(i) for i in sorted(instants)]
    for instant, stored in zip(instants, encoded, strict=True):
        decoded = decode_time(stored)
        assert decoded == instant
        assert decoded.tzinfo is UTC


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        encode_time(datetime(2030, 1, 1))


@pytest.mark.parametrize("text", ["a.b", "100%", "(x)", "[a-z]+", "a\\b", "$^|?*{2}", "a\x00b"])
def test_search_pattern_matches_text_literally(text: str) -> None:
    pattern = literal_pattern(text)

    assert re.search(pattern, f"before {text} after")
    assert not re.search(pattern, text.replace(text[0], "Z", 1))
    assert "\x00" not in pattern  # BSON regexes are C strings


async def test_client_has_bounded_timeouts_that_the_url_can_override() -> None:
    default = build_client("mongodb://127.0.0.1:1/?replicaSet=rs0")
    tuned = build_client("mongodb://127.0.0.1:1/?SERVERSELECTIONTIMEOUTMS=500&socketTimeoutMS=0")
    try:
        assert default.options.server_selection_timeout == 3.0
        assert default.options.pool_options.connect_timeout == 3.0
        assert default.options.pool_options.socket_timeout == 10.0
        assert tuned.options.server_selection_timeout == 0.5
        assert tuned.options.pool_options.socket_timeout is None  # 0: no timeout, as asked
    finally:
        await default.close()
        await tuned.close()


# pymongo 4.20 leaks a socket when close() cancels a monitor task that is still opening a
# connection to the dead server: a ResourceWarning, emitted whenever the garbage collector
# finds that socket. The test collects it itself, under this filter, so that the warning
# cannot surface (as an error) in whichever test happens to run next.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
async def test_server_that_never_answers_is_store_unavailable_quickly() -> None:
    # A port that accepts connections and never replies: the timeouts must end every call.
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        port = black_hole.getsockname()[1]
        url = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
        dead = MongoStore(url, "encore")
        started = time.monotonic()
        try:
            with pytest.raises(StoreUnavailable):
                await dead.ping()
            with pytest.raises(StoreUnavailable):
                await dead.initialize()
            # Repository calls too: no driver exception may escape, and a claim does not
            # spend its transaction retry budget on a server that is not there.
            with pytest.raises(StoreUnavailable):
                await dead.users.get("anyone")
            with pytest.raises(StoreUnavailable):
                await dead.sales.claim("c", ["A-1"], "o", T0)
        finally:
            await dead.close()
            await asyncio.sleep(0.2)  # let the cancelled monitor tasks finish
            gc.collect()
        assert time.monotonic() - started < 8


# --------------------------------------------------------------------------- on the server


@on_mongo
class TestOnMongo:
    async def test_declared_indexes_exist(self, mongo: MongoStore) -> None:
        names = set()
        for collection in ("users", "refresh_tokens", "concerts", "orders", "seat_sales"):
            names |= set(await mongo._db.collection(collection).index_information())
        names |= set(await mongo._db.tickets.index_information())

        assert {
            "users_email_unique",
            "refresh_tokens_family",
            "concerts_starts_at_id",
            "orders_hold_unique",
            "orders_payment_intent_unique",
            "orders_user_created",
            "orders_status_expires",
            "orders_concert_status",
            "seat_sales_concert_seat_unique",
            "seat_sales_order",
            "tickets_order_seat_unique",
            "tickets_user_issued",
        } <= names

    async def test_initialize_twice_is_harmless(self, mongo: MongoStore) -> None:
        await mongo.initialize()
        await mongo.ping()

    async def test_booking_writes_use_majority_write_concern(self, mongo: MongoStore) -> None:
        for collection in (mongo._db.orders, mongo._db.seat_sales, mongo._db.payment_events):
            assert collection.write_concern.document == {"w": "majority"}

    @pytest.mark.parametrize("competitor_commits", [True, False], ids=["commits", "aborts"])
    async def test_claim_retries_past_an_uncommitted_competitor(
        self, mongo: MongoStore, competitor_commits: bool
    ) -> None:
        concert_id = uid("c-")
        sale = {"concert_id": concert_id, "seat_id": "A-1", "order_id": "o-first"}
        async with mongo._db.client.start_session() as session:
            await session.start_transaction()
            doc = {"_id": sale_id(concert_id, "A-1"), **sale, "sold_at": encode_time(T0)}
            await mongo._db.seat_sales.insert_one(doc, session=session)
            claim = asyncio.create_task(
                mongo.sales.claim(concert_id, ["A-2", "A-1"], "o-second", T0)
            )
            await asyncio.sleep(0.3)
            # Its insert of A-1 meets our uncommitted one: a write conflict, retried.
            assert not claim.done()
            if competitor_commits:
                await session.commit_transaction()
            else:
                await session.abort_transaction()

        if competitor_commits:
            with pytest.raises(SeatsAlreadySold) as caught:
                await claim
            assert caught.value.seat_ids == ["A-1"]
            assert await mongo.sales.sold_seats(concert_id) == {"A-1": "o-first"}
        else:
            await claim
            assert await mongo.sales.sold_seats(concert_id) == dict.fromkeys(
                ["A-1", "A-2"], "o-second"
            )

    async def test_search_treats_regex_characters_and_nul_literally(
        self, mongo: MongoStore
    ) -> None:
        tag = uid()
        special = make_concert(title=f"{tag} (Live) [1].* $5")
        decoy = make_concert(title=f"{tag} Live 1 and more")
        for concert in (special, decoy):
            await mongo.concerts.add(concert)

        exact = await mongo.concerts.search(ConcertFilter(q="(live) [1].* $5"), 10, None)
        wildcard = await mongo.concerts.search(ConcertFilter(q=f"{tag}.*"), 10, None)
        nul = await mongo.concerts.search(ConcertFilter(q=f"{tag}\x00"), 10, None)

        assert [c.id for c in exact.items] == [special.id]
        assert wildcard.items == []
        assert nul.items == []

    async def test_transition_reason_is_stored_as_text(self, mongo: MongoStore) -> None:
        order = make_order()
        await mongo.orders.add(order)

        moved = await mongo.orders.transition(order.id, 1, OrderStatus.CANCELLED, "$status", T0)

        assert moved.history[0].reason == "$status"
        assert moved.history[0].from_status is OrderStatus.PENDING_PAYMENT

    async def test_values_bson_cannot_hold_are_invalid_value(self, mongo: MongoStore) -> None:
        too_big = make_order(amount_cents=2**70)
        lone_surrogate = make_user(name="Ada \ud800")

        with pytest.raises(InvalidValue):
            await mongo.orders.add(too_big)
        with pytest.raises(InvalidValue):
            await mongo.users.add(lone_surrogate)
        assert await mongo.orders.get(too_big.id) is None
        assert await mongo.users.get(lone_surrogate.id) is None

    async def test_payment_intent_may_be_missing_on_many_orders(self, mongo: MongoStore) -> None:
        # The unique index on payment_intent_id is partial: nulls never collide.
        orders = [make_order(), make_order()]
        for order in orders:
            await mongo.orders.add(order)

        assert [await mongo.orders.get(o.id) for o in orders] == orders
        assert replace(orders[0], payment_intent_id=None) == orders[0]

    async def test_a_concert_stored_without_a_time_zone_reads_as_utc(
        self, mongo: MongoStore
    ) -> None:
        """Concerts written before venues had a time zone have no such field."""
        concert = make_concert(venue_time_zone="Europe/Lisbon")
        await mongo.concerts.add(concert)
        await mongo._db.collection("concerts").update_one(
            {"_id": concert.id}, {"$unset": {"venue_time_zone": ""}}
        )

        found = await mongo.concerts.get(concert.id)

        assert found == replace(concert, venue_time_zone="UTC")

    async def test_a_concert_stored_before_cancellations_reads_as_not_cancelled(
        self, mongo: MongoStore
    ) -> None:
        """Concerts written before cancellations existed have none of their fields."""
        concert = make_concert()
        await mongo.concerts.add(concert)
        fields = ("cancelled_at", "cancellation_total", "cancellation_refunded")
        await mongo._db.collection("concerts").update_one(
            {"_id": concert.id}, {"$unset": dict.fromkeys(fields, "")}
        )

        found = await mongo.concerts.get(concert.id)

        assert found == concert
        assert found.cancelled_at is None

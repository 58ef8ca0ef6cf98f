"""What only the DynamoDB backend has to get right, beyond the shared contract suite:
table creation, the 100-action transaction limit, retries on transaction conflicts, error
translation, key escaping, the layout's size, TTL'd records and filtered paging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError

from app.concerts.layout import SectionSpec, build_sections
from app.platform.aws import local_credentials
from app.storage.dynamo import DynamoStore, create_tables
from app.storage.dynamo import client as dynamo_client
from app.storage.dynamo import concerts as dynamo_concerts
from app.storage.dynamo.tables import CONCERTS, TABLES
from app.storage.errors import InvalidValue, SeatsAlreadySold, StoreUnavailable
from app.storage.records import ConcertFilter, OrderStatus, Row, Section
from tests.servers.dynamodb import dynamodb_server

from .factories import T0, make_concert, make_order, make_ticket, uid

pytestmark = pytest.mark.dynamodb

REGION = "eu-west-1"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def endpoint() -> AsyncIterator[str]:
    async with dynamodb_server() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def dynamo(endpoint: str) -> AsyncIterator[DynamoStore]:
    """A store on tables of its own (a fresh prefix), so listings see only this module."""
    store = DynamoStore(endpoint=endpoint, region=REGION, table_prefix=f"encore-{uid()}-")
    await store.initialize()
    try:
        yield store
    finally:
        await store.close()


async def _client(store: DynamoStore) -> Any:
    return await store._db.client()


def _cancelled(*codes: str) -> ClientError:
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "CancellationReasons": [{"Code": code} for code in codes],
    }
    return ClientError(response, "TransactWriteItems")


def _patch_transactions(
    monkeypatch: pytest.MonkeyPatch,
    client: Any,
    wrap: Callable[[Callable[..., Awaitable[Any]], dict[str, Any]], Awaitable[Any]],
) -> None:
    real = client.transact_write_items

    async def patched(**kwargs: Any) -> Any:
        return await wrap(real, kwargs)

    monkeypatch.setattr(client, "transact_write_items", patched)


# --------------------------------------------------------------------------- tables


async def test_create_tables_is_idempotent_and_names_every_table(endpoint: str) -> None:
    prefix = f"encore-{uid()}-"

    first = await create_tables(endpoint, REGION, prefix)
    again = await create_tables(endpoint, REGION, prefix)

    assert first == again == [f"{prefix}{spec.name}" for spec in TABLES]
    store = DynamoStore(endpoint=endpoint, region=REGION, table_prefix=prefix)
    try:
        await store.initialize()  # on existing tables: nothing to do
        client = await _client(store)
        for name in (f"{prefix}refresh_tokens", f"{prefix}payment_events"):
            described = await client.describe_time_to_live(TableName=name)
            assert described["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    finally:
        await store.close()


async def test_a_table_without_its_indexes_is_reported(endpoint: str) -> None:
    prefix = f"encore-{uid()}-"
    store = DynamoStore(endpoint=endpoint, region=REGION, table_prefix=prefix)
    try:
        client = await _client(store)
        await client.create_table(
            TableName=f"{prefix}orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        with pytest.raises(StoreUnavailable, match="lacks the index"):
            await store.initialize()
    finally:
        await store.close()


def test_local_endpoints_get_dummy_credentials_only_when_none_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert local_credentials("http://127.0.0.1:8000") == ("test", "test")
    assert local_credentials(None) == (None, None)  # AWS itself: botocore's own chain

    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert local_credentials("http://127.0.0.1:8000") == (None, None)


# --------------------------------------------------------------------------- claims


async def test_claim_over_the_transaction_limit_is_refused_whole(dynamo: DynamoStore) -> None:
    concert_id = uid("c-")
    seats = [f"S-{k}" for k in range(101)]

    with pytest.raises(InvalidValue, match="100"):
        await dynamo.sales.claim(concert_id, seats, uid("o-"), T0)

    assert await dynamo.sales.sold_seats(concert_id) == {}
    await dynamo.sales.claim(concert_id, seats[:100], uid("o-"), T0)  # 100 is fine
    assert (await dynamo.sales.count_sold([concert_id]))[concert_id] == 100


async def test_transaction_conflicts_are_retried(
    dynamo: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    concert_id, order_id = uid("c-"), uid("o-")
    attempts = 0

    async def conflict_twice(real: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise _cancelled("TransactionConflict", "None")
        return await real(**kwargs)

    _patch_transactions(monkeypatch, await _client(dynamo), conflict_twice)

    await dynamo.sales.claim(concert_id, ["A-1", "A-2"], order_id, T0)

    assert attempts == 3
    assert await dynamo.sales.sold_seats(concert_id) == {"A-1": order_id, "A-2": order_id}


async def test_endless_conflicts_are_unavailable_not_a_botocore_error(
    dynamo: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamo_client, "CONFLICT_BACKOFF_S", 0.0)

    async def always(real: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]) -> Any:
        raise _cancelled("TransactionConflict")

    _patch_transactions(monkeypatch, await _client(dynamo), always)

    with pytest.raises(StoreUnavailable):
        await dynamo.sales.claim(uid("c-"), ["A-1"], uid("o-"), T0)


async def test_taken_seats_are_found_when_the_server_gives_no_reasons(
    dynamo: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    concert_id, first, second = uid("c-"), uid("o-"), uid("o-")
    await dynamo.sales.claim(concert_id, ["A-1", "A-3"], first, T0)

    async def without_reasons(real: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]) -> Any:
        try:
            return await real(**kwargs)
        except ClientError as error:
            error.response.pop("CancellationReasons", None)
            raise

    _patch_transactions(monkeypatch, await _client(dynamo), without_reasons)

    with pytest.raises(SeatsAlreadySold) as caught:
        await dynamo.sales.claim(concert_id, ["A-1", "A-2", "A-3"], second, T0)
    assert caught.value.seat_ids == ["A-1", "A-3"]
    await dynamo.sales.claim(concert_id, ["A-1", "A-3"], first, T0)  # its own seats: fine


async def test_ids_with_separators_do_not_collide(dynamo: DynamoStore) -> None:
    tag = uid()
    await dynamo.sales.claim(f"{tag}#b", ["c"], "o-1", T0)
    await dynamo.sales.claim(tag, ["b#c"], "o-2", T0)  # same "<concert>#<seat>" if unescaped
    await dynamo.sales.claim(f"{tag}%23b", ["c"], "o-3", T0)  # same if '%' were not escaped

    assert await dynamo.sales.sold_seats(f"{tag}#b") == {"c": "o-1"}
    assert await dynamo.sales.sold_seats(tag) == {"b#c": "o-2"}
    assert await dynamo.sales.sold_seats(f"{tag}%23b") == {"c": "o-3"}


# --------------------------------------------------------------------------- errors


async def test_unreachable_endpoint_is_store_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamo_client, "MAX_ATTEMPTS", 1)  # no retry backoff to sit through
    dead = DynamoStore(endpoint="http://127.0.0.1:1", region=REGION, table_prefix="encore-")
    try:
        with pytest.raises(StoreUnavailable):
            await dead.ping()
        with pytest.raises(StoreUnavailable):
            await dead.users.get("anyone")
        with pytest.raises(StoreUnavailable):
            await dead.sales.claim("c", ["A-1"], "o", T0)
    finally:
        await dead.close()


async def test_a_value_dynamodb_refuses_is_invalid_value(dynamo: DynamoStore) -> None:
    with pytest.raises(InvalidValue):
        await dynamo.tickets.add_many([make_ticket(order_id="")])  # empty key attribute


async def test_missing_tables_are_unavailable(endpoint: str) -> None:
    store = DynamoStore(endpoint=endpoint, region=REGION, table_prefix=f"never-{uid()}-")
    try:
        with pytest.raises(StoreUnavailable):
            await store.concerts.get("c")
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()


# --------------------------------------------------------------------------- records


async def test_a_stadium_layout_fits_in_one_item(dynamo: DynamoStore) -> None:
    # 100,000 seats (the API's maximum) are ~4 MB of seat ids; an item holds 400 KB.
    generated = build_sections(
        [SectionSpec(f"Block {k} lower tier", 5_000, rows=200, seats_per_row=10) for k in range(50)]
    )
    irregular = Section(
        id="box",
        name="Boxes",
        price_cents=90_000,
        rows=(Row(label="R", seat_ids=("box-R-2", "box-R-1", "box-R-7#")),),
    )
    concert = make_concert(sections=(*generated, irregular))

    await dynamo.concerts.add(concert)

    found = await dynamo.concerts.get(concert.id)
    assert found == concert
    assert found.seats_total == 100_003


async def test_a_payment_event_past_its_retention_counts_as_new(dynamo: DynamoStore) -> None:
    event_id = uid("evt_")

    assert await dynamo.payment_events.record_if_absent(event_id, "payment.succeeded", T0)
    a_day_later = T0 + timedelta(days=1)
    assert not await dynamo.payment_events.record_if_absent(event_id, "x", a_day_later)
    # moto never runs TTL deletion (and AWS may run it days late): the store checks itself.
    assert await dynamo.payment_events.record_if_absent(event_id, "x", T0 + timedelta(days=31))


async def test_filtered_search_reads_on_past_pages_without_matches(
    dynamo: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Limit applies before the filter: with 2-entry index pages most pages match nothing.
    monkeypatch.setattr(dynamo_concerts, "FILTERED_PAGE", 2)
    day = datetime(2041, 3, 1, tzinfo=UTC)
    genre = uid("genre-")
    concerts = [
        make_concert(genre=genre if k % 4 == 0 else "other", starts_at=day + timedelta(hours=k))
        for k in range(20)
    ]
    for concert in concerts:
        await dynamo.concerts.add(concert)
    expected = [c.id for c in concerts if c.genre == genre]
    flt = ConcertFilter(genre=genre.upper(), date_from=day, date_to=day + timedelta(days=1))

    first = await dynamo.concerts.search(flt, limit=2, cursor=None)
    second = await dynamo.concerts.search(flt, limit=2, cursor=first.next_cursor)
    third = await dynamo.concerts.search(flt, limit=2, cursor=second.next_cursor)

    walked = [c.id for page in (first, second, third) for c in page.items]
    assert walked == expected
    assert third.next_cursor is None


async def test_search_sees_an_updated_start_time(dynamo: DynamoStore) -> None:
    day = datetime(2042, 5, 1, tzinfo=UTC)
    concert = make_concert(starts_at=day)
    await dynamo.concerts.add(concert)
    moved = await dynamo.concerts.update(replace(concert, starts_at=day + timedelta(days=9)), 1)

    window = ConcertFilter(date_from=day, date_to=day + timedelta(days=1))
    later = ConcertFilter(date_from=day + timedelta(days=9), date_to=day + timedelta(days=10))
    assert (await dynamo.concerts.search(window, limit=5, cursor=None)).items == []
    assert (await dynamo.concerts.search(later, limit=5, cursor=None)).items == [moved]


async def test_list_due_merges_every_shard_oldest_first(dynamo: DynamoStore) -> None:
    base = datetime(1980, 1, 1, tzinfo=UTC)
    orders = [make_order(expires_at=base + timedelta(minutes=(k * 7) % 20)) for k in range(20)]
    for order in orders:
        await dynamo.orders.add(order)

    due = await dynamo.orders.list_due(OrderStatus.PENDING_PAYMENT, base + timedelta(hours=1), 7)

    oldest = sorted(orders, key=lambda o: (o.expires_at, o.id))[:7]
    assert [o.id for o in due] == [o.id for o in oldest]


async def test_a_concert_stored_without_a_time_zone_reads_as_utc(dynamo: DynamoStore) -> None:
    """Concerts written before venues had a time zone have no such attribute."""
    concert = make_concert(venue_time_zone="Europe/Lisbon")
    await dynamo.concerts.add(concert)
    client = await _client(dynamo)
    await client.update_item(
        TableName=dynamo._db.table(CONCERTS.name),
        Key={"pk": {"S": concert.id}},
        UpdateExpression="REMOVE venue_time_zone",
    )

    found = await dynamo.concerts.get(concert.id)

    assert found == replace(concert, venue_time_zone="UTC")


async def test_a_concert_stored_before_cancellations_reads_as_not_cancelled(
    dynamo: DynamoStore,
) -> None:
    """Concerts written before cancellations existed have none of their attributes."""
    concert = make_concert()
    await dynamo.concerts.add(concert)
    client = await _client(dynamo)
    await client.update_item(
        TableName=dynamo._db.table(CONCERTS.name),
        Key={"pk": {"S": concert.id}},
        UpdateExpression="REMOVE cancellation_total, cancellation_refunded, "
        "cancellation_cancelled, cancellation_failed",
    )

    found = await dynamo.concerts.get(concert.id)

    assert found == concert
    assert found.cancelled_at is None

"""The EventBridge forwarder against moto's EventBridge and SQS: events published through the
app's EventPublisher into real Redis reach a rule's SQS target; refused entries are sent again,
alone; what EventBridge never took stays pending in the group."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.events.consumer import BatchFailed, EventConsumer
from app.events.eventbridge import (
    GROUP,
    MAX_ENTRIES,
    MAX_REQUEST_BYTES,
    EventBridgeForwarder,
    _Entry,
    batches,
    entry_of,
    entry_size,
)
from app.events.publisher import EventPublisher
from app.events.schemas import DomainEvent, OrderConfirmed, SeatHeld
from app.platform.aws import aws_session, client_config
from app.platform.redis import RedisClient
from tests.conftest import make_settings, running_app
from tests.events.conftest import eventually
from tests.servers.moto import DEFAULT_REGION, WsgiApp, moto_server
from tests.storage.factories import make_order

if TYPE_CHECKING:
    from types_aiobotocore_events import EventBridgeClient
    from types_aiobotocore_sqs import SQSClient


# --------------------------------------------------------------------------- a real fault


@dataclass
class PutEventsFaults:
    """Between the client and moto's EventBridge: records every PutEvents call's entries and
    refuses those `refuse` names (with an error code, as EventBridge refuses an entry), passing
    the others on to moto; the answer puts the refusals back in their places."""

    refuse: Callable[[dict[str, Any]], str | None] = lambda _: None
    calls: list[list[dict[str, Any]]] = field(default_factory=list)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            if environ.get("HTTP_X_AMZ_TARGET") != "AWSEvents.PutEvents":
                return list(app(environ, start_response))
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            entries: list[dict[str, Any]] = body["Entries"]
            self.calls.append(entries)
            codes = [self.refuse(entry) for entry in entries]
            passed = [e for e, code in zip(entries, codes, strict=True) if code is None]
            results: list[dict[str, Any]] = []
            status, headers = "200 OK", [("Content-Type", "application/x-amz-json-1.1")]
            if passed:
                forwarded = json.dumps({**body, "Entries": passed}).encode()
                environ = {
                    **environ,
                    "wsgi.input": io.BytesIO(forwarded),
                    "CONTENT_LENGTH": str(len(forwarded)),
                }
                answer: dict[str, Any] = {}

                def keep(s: str, h: list[tuple[str, str]], *_: Any) -> None:
                    answer.update(status=s, headers=h)

                reply = b"".join(app(environ, keep))
                status = answer["status"]
                headers = [(k, v) for k, v in answer["headers"] if k.lower() != "content-length"]
                if not status.startswith("200"):
                    start_response(status, [*headers, ("Content-Length", str(len(reply)))])
                    return [reply]
                results = json.loads(reply)["Entries"]
            moto_results = iter(results)
            merged = [
                {"ErrorCode": code, "ErrorMessage": "refused by the test"}
                if code is not None
                else next(moto_results)
                for code in codes
            ]
            failed = sum(1 for r in merged if "ErrorCode" in r)
            out = json.dumps({"FailedEntryCount": failed, "Entries": merged}).encode()
            start_response(status, [*headers, ("Content-Length", str(len(out)))])
            return [out]

        return handle

    def details(self) -> list[list[dict[str, Any]]]:
        """Each call's entries' details, parsed."""
        return [[json.loads(e["Detail"]) for e in call] for call in self.calls]


@dataclass
class Aws:
    url: str
    faults: PutEventsFaults
    events: EventBridgeClient
    sqs: SQSClient


@pytest.fixture(scope="module")
async def aws() -> AsyncIterator[Aws]:
    faults = PutEventsFaults()
    async with moto_server(middleware=faults.wrap) as url, AsyncExitStack() as stack:
        session = aws_session(url, DEFAULT_REGION)
        events = await stack.enter_async_context(session.client("events", endpoint_url=url))
        sqs = await stack.enter_async_context(session.client("sqs", endpoint_url=url))
        yield Aws(url, faults, events, sqs)


@pytest.fixture
def faults(aws: Aws) -> Iterable[PutEventsFaults]:
    aws.faults.refuse = lambda _: None
    aws.faults.calls.clear()
    yield aws.faults
    aws.faults.refuse = lambda _: None


@dataclass
class Bus:
    name: str
    queue_url: str


async def make_bus(aws: Aws, pattern: dict[str, Any]) -> Bus:
    """A bus of its own with one rule (`pattern`) whose target is an SQS queue."""
    name = f"test-bus-{uuid.uuid4().hex[:12]}"
    await aws.events.create_event_bus(Name=name)
    queue_url = (await aws.sqs.create_queue(QueueName=f"{name}-q"))["QueueUrl"]
    attributes = await aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    await aws.events.put_rule(Name="r", EventBusName=name, EventPattern=json.dumps(pattern))
    await aws.events.put_targets(
        Rule="r",
        EventBusName=name,
        Targets=[{"Id": "q", "Arn": attributes["Attributes"]["QueueArn"]}],
    )
    return Bus(name, queue_url)


async def received(aws: Aws, bus: Bus, expected: int) -> list[dict[str, Any]]:
    """The queue's messages (EventBridge events) once `expected` arrived, then whatever else
    comes in the next second (nothing, unless something was delivered that should not be)."""
    messages: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        waiting = len(messages) >= expected
        reply = await aws.sqs.receive_message(
            QueueUrl=bus.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1 if waiting else 0
        )
        batch = reply.get("Messages", [])
        for message in batch:
            messages.append(json.loads(message["Body"]))
            await aws.sqs.delete_message(
                QueueUrl=bus.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        if waiting and not batch:
            return messages
        assert loop.time() < deadline, f"only {len(messages)} of {expected} events arrived"
        if not batch:
            await asyncio.sleep(0.05)


def confirmed(n: int) -> OrderConfirmed:
    order = make_order(concert_id="c-eb", seat_ids=(f"floor-A-{n}",))
    return OrderConfirmed.of(order, ticket_ids=[f"t-{n}"])


def held(n: int, seats: int = 1) -> SeatHeld:
    return SeatHeld(
        concert_id="c-eb",
        hold_id=f"h-{n}",
        user_id="u-1",
        seat_ids=[f"floor-B-{i}" for i in range(seats)],
        expires_at=datetime.now(UTC),
        amount_cents=5_000,
        currency="EUR",
    )


@pytest.fixture
async def publisher(redis: RedisClient, stream: str) -> AsyncIterator[EventPublisher]:
    yield EventPublisher(redis, stream, maxlen=10_000)
    await redis.delete(stream)


def forwarder_consumer(
    redis: RedisClient, stream: str, forwarder: EventBridgeForwarder
) -> EventConsumer:
    return EventConsumer(
        redis,
        stream=stream,
        group=GROUP,
        batch_handler=forwarder,
        name="forwarder-test",
        block_ms=10,
        claim_min_idle_ms=100,
    )


async def pending_ids(redis: RedisClient, stream: str) -> list[str]:
    rows = await redis.xpending_range(stream, GROUP, min="-", max="+", count=100)
    return sorted(_text(r["message_id"]) for r in rows)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------- tests


async def test_the_rule_s_queue_gets_the_matching_events_with_their_detail(
    aws: Aws, faults: PutEventsFaults, redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    """The real job (run_eventbridge_forwarder via the app's background jobs) forwards what the
    app publishes; the rule picks order.confirmed from source encore only."""
    bus = await make_bus(aws, {"source": ["encore"], "detail-type": ["order.confirmed"]})
    settings = make_settings(
        events_stream=stream,
        eventbridge_bus_name=bus.name,
        eventbridge_endpoint=aws.url,
        events_consumer_block_seconds=0.1,
    )
    from app.events.eventbridge import run_eventbridge_forwarder

    job = asyncio.create_task(run_eventbridge_forwarder(settings))
    try:

        async def group_ready() -> bool:
            if not await redis.exists(stream):
                return False
            return any(g["name"] == GROUP.encode() for g in await redis.xinfo_groups(stream))

        await eventually(group_ready)
        orders = [confirmed(n) for n in range(3)]
        # More than one call's worth, the confirmations among seat holds.
        published = [*(held(n) for n in range(8)), orders[0], *(held(n) for n in range(8, 14))]
        published += orders[1:]
        ids = await publisher.publish(*published)
        messages = await received(aws, bus, expected=3)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)

    assert [m["detail-type"] for m in messages] == ["order.confirmed"] * 3
    assert {m["source"] for m in messages} == {"encore"}
    by_id = {m["detail"]["id"]: m for m in messages}
    assert set(by_id) == {ids[8], ids[15], ids[16]}
    for event_id, order in zip((ids[8], ids[15], ids[16]), orders, strict=True):
        message = by_id[event_id]
        expected = json.loads(order.model_copy(update={"id": event_id}).model_dump_json())
        assert message["detail"] == expected
        assert message["detail"]["type"] == "order.confirmed"
        assert message["detail"]["v"] == 1
        assert message["resources"] == []
        assert message["time"] == order.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Every event went to the bus (the rule chose among them), ten at most per call.
    sent = [d["id"] for call in faults.details() for d in call]
    assert sorted(sent) == sorted(ids)
    assert all(len(call) <= MAX_ENTRIES for call in faults.calls)
    assert len(faults.calls) >= 2
    assert await pending_ids(redis, stream) == []


async def test_refused_entries_are_sent_again_alone_and_arrive_once(
    aws: Aws, faults: PutEventsFaults, redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    bus = await make_bus(aws, {"source": ["encore"]})
    async with aws_session(aws.url, DEFAULT_REGION).client("events", endpoint_url=aws.url) as c:
        forwarder = EventBridgeForwarder(c, bus=bus.name, source="encore", backoff_seconds=0.01)
        consumer = forwarder_consumer(redis, stream, forwarder)
        await consumer.ensure_group()
        ids = await publisher.publish(*(confirmed(n) for n in range(5)))
        flaky = {ids[1], ids[3]}
        refused_once: set[str] = set()

        def refuse(entry: dict[str, Any]) -> str | None:
            event_id = json.loads(entry["Detail"])["id"]
            if event_id in flaky and event_id not in refused_once:
                refused_once.add(event_id)
                return "InternalFailure"
            return None

        faults.refuse = refuse
        assert await consumer.read_new() == 5

    messages = await received(aws, bus, expected=5)
    assert sorted(m["detail"]["id"] for m in messages) == sorted(ids)  # each once
    first, second = faults.details()
    assert [d["id"] for d in first] == ids
    assert [d["id"] for d in second] == [ids[1], ids[3]]  # only the refused ones
    assert await pending_ids(redis, stream) == []


async def test_an_entry_refused_on_every_attempt_stays_pending_and_the_others_are_acked(
    aws: Aws, faults: PutEventsFaults, redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    bus = await make_bus(aws, {"source": ["encore"]})
    async with aws_session(aws.url, DEFAULT_REGION).client("events", endpoint_url=aws.url) as c:
        forwarder = EventBridgeForwarder(
            c, bus=bus.name, source="encore", attempts=3, backoff_seconds=0.01
        )
        consumer = forwarder_consumer(redis, stream, forwarder)
        await consumer.ensure_group()
        ids = await publisher.publish(*(confirmed(n) for n in range(3)))
        faults.refuse = lambda e: "ThrottlingException" if ids[2] in e["Detail"] else None
        assert await consumer.read_new() == 2
        assert await pending_ids(redis, stream) == [ids[2]]
        assert [[d["id"] for d in call] for call in faults.details()] == [ids, [ids[2]], [ids[2]]]

        # Once EventBridge takes it, the reclaim pass sends it and it is acknowledged.
        faults.refuse = lambda _: None
        await asyncio.sleep(0.15)
        assert await consumer.reclaim() == 1
        assert await pending_ids(redis, stream) == []
    messages = await received(aws, bus, expected=3)
    assert sorted(m["detail"]["id"] for m in messages) == sorted(ids)


async def test_an_event_too_large_for_eventbridge_is_not_sent_and_stays_pending(
    aws: Aws, faults: PutEventsFaults, redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    bus = await make_bus(aws, {"source": ["encore"]})
    huge = held(1, seats=30_000)
    async with aws_session(aws.url, DEFAULT_REGION).client("events", endpoint_url=aws.url) as c:
        forwarder = EventBridgeForwarder(c, bus=bus.name, source="encore", backoff_seconds=0.01)
        consumer = forwarder_consumer(redis, stream, forwarder)
        await consumer.ensure_group()
        ids = await publisher.publish(confirmed(1), huge, confirmed(2))
        assert await consumer.read_new() == 2
    assert await pending_ids(redis, stream) == [ids[1]]
    assert [[d["id"] for d in call] for call in faults.details()] == [[ids[0], ids[2]]]
    messages = await received(aws, bus, expected=2)
    assert sorted(m["detail"]["id"] for m in messages) == sorted([ids[0], ids[2]])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_an_unreachable_endpoint_leaves_the_entries_pending(
    redis: RedisClient, stream: str, publisher: EventPublisher
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    session = aws_session(url, DEFAULT_REGION)
    config = client_config(max_attempts=1)
    async with session.client("events", endpoint_url=url, config=config) as client:
        forwarder = EventBridgeForwarder(client, bus="nowhere", source="encore")
        consumer = forwarder_consumer(redis, stream, forwarder)
        await consumer.ensure_group()
        events = [confirmed(1), confirmed(2)]
        ids = await publisher.publish(*events)
        with pytest.raises(BatchFailed) as failed:
            await forwarder(
                [e.model_copy(update={"id": i}) for e, i in zip(events, ids, strict=True)]
            )
        assert failed.value.failed_ids == frozenset(ids)
        assert await consumer.read_new() == 0
    assert await pending_ids(redis, stream) == sorted(ids)


# --------------------------------------------------------------------------- batching


def _entries(events: Sequence[DomainEvent]) -> list[_Entry]:
    out = []
    for n, event in enumerate(events):
        event = event.model_copy(update={"id": f"{n}-0"})
        request = entry_of(event, bus="b", source="encore")
        out.append(_Entry(event, request, entry_size(request)))
    return out


def test_calls_hold_ten_entries_at_most_and_stay_under_the_request_size() -> None:
    small = _entries([confirmed(n) for n in range(23)])
    assert [len(b) for b in batches(small)] == [10, 10, 3]
    # Each about 100 KB: two fit in one call, not three.
    big = _entries([held(n, seats=7_000) for n in range(5)])
    assert all(100_000 < e.size < MAX_REQUEST_BYTES / 2 for e in big)
    cut = batches(big)
    assert [len(b) for b in cut] == [2, 2, 1]
    assert all(sum(e.size for e in b) <= MAX_REQUEST_BYTES for b in cut)
    assert [e.id for b in cut for e in b] == [e.id for e in big]  # in order


def test_an_entry_s_size_is_counted_as_eventbridge_counts_it() -> None:
    [entry] = _entries([confirmed(1)])
    request = entry.request
    assert entry.size == 14 + len("encore") + len("order.confirmed") + len(
        request["Detail"].encode()
    )


# --------------------------------------------------------------------------- the job


async def test_the_forwarder_job_runs_only_when_a_bus_is_set(
    aws: Aws, redis: RedisClient, stream: str, tmp_path: Path
) -> None:
    def jobs() -> set[str]:
        return {t.get_name() for t in asyncio.all_tasks() if not t.done()}

    async def groups() -> set[str]:
        if not await redis.exists(stream):
            return set()
        return {g["name"].decode() for g in await redis.xinfo_groups(stream)}

    base: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/jobs.db",
        "events_stream": stream,
        "events_consumer_block_seconds": 0.1,
    }
    try:
        async with running_app(make_settings(**base)):
            # Before any await: the jobs were created but none has run (or ended) yet.
            assert "ticket-delivery" in jobs()
            assert "eventbridge" not in jobs()

            async def delivery_ready() -> bool:
                return "ticket-delivery" in await groups()

            await eventually(delivery_ready)
            assert "eventbridge" not in jobs()
            assert GROUP not in await groups()

        with_bus = make_settings(**base, eventbridge_bus_name="b", eventbridge_endpoint=aws.url)
        async with running_app(with_bus):
            assert "eventbridge" in jobs()

            async def forwarder_ready() -> bool:
                return GROUP in await groups()

            await eventually(forwarder_ready)
    finally:
        await redis.delete(stream)

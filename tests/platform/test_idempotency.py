"""Idempotency-Key against a real Redis, through a tiny app whose call counts how often it runs.

The call can succeed, refuse (409), fail in ways that must not be stored (503, 429, a crash), or
park on an event the test releases: that is how a test holds a request "in flight" for as long
as it needs, without sleeping.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import anyio
import httpx
import pytest
from fastapi import FastAPI, Header, Request, Response
from pydantic import BaseModel
from redis.asyncio import Redis

from app.errors import (
    AppError,
    Conflict,
    ServiceUnavailable,
    ValidationError,
    install_error_handlers,
)
from app.platform.idempotency import Idempotency, IdempotencyKeyHeader
from app.platform.redis import RedisClient, build_redis
from tests.conftest import TEST_REDIS_URL

Outcome = Literal["ok", "sold_out", "unavailable", "rate_limited", "crash", "wait", "wait_then_503"]
DAY_MS = 86_400_000
IN_FLIGHT_MS = 60_000


class OrderIn(BaseModel):
    item: str
    outcome: Outcome = "ok"


class OrderOut(BaseModel):
    item: str
    run: int  # how many times this user's call has run, this one included


class SoldOut(Conflict):
    detail = "Those seats were just sold."


class RateLimited(AppError):
    status_code = 429
    detail = "Slow down."


class Harness:
    """The app, its client, and what the test observes: runs per user and parked calls."""

    def __init__(self, redis: RedisClient, idempotency: Idempotency) -> None:
        self.redis = redis
        self.runs: Counter[str] = Counter()
        # One event per call that parked on "wait*"; set it to let that call finish.
        self.parked: asyncio.Queue[asyncio.Event] = asyncio.Queue()
        self.users: list[str] = []
        self.app = self._build(idempotency)
        # raise_app_exceptions=False: Starlette re-raises a crash after answering 500; the test
        # wants the 500 response, as a real server would send it.
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def _build(self, idempotency: Idempotency) -> FastAPI:
        app = FastAPI()
        install_error_handlers(app)
        runs, parked = self.runs, self.parked

        async def create_order(
            order: OrderIn,
            request: Request,
            user_id: Annotated[str, Header(alias="X-User")],
            idem_key: IdempotencyKeyHeader = None,
        ) -> Response:
            async def call() -> OrderOut:
                runs[user_id] += 1
                run = runs[user_id]
                if order.outcome.startswith("wait"):
                    release = asyncio.Event()
                    await parked.put(release)
                    await release.wait()
                if order.outcome == "sold_out":
                    raise SoldOut()
                if order.outcome in ("unavailable", "wait_then_503"):
                    raise ServiceUnavailable()
                if order.outcome == "rate_limited":
                    raise RateLimited()
                if order.outcome == "crash":
                    raise RuntimeError("boom")
                return OrderOut(item=order.item, run=run)

            return await idempotency.run(
                user_id=user_id, key=idem_key, request=request, call=call, status_code=201
            )

        # Two paths for one handler: the fingerprint must tell them apart.
        app.add_api_route("/orders", create_order, methods=["POST"])
        app.add_api_route("/tickets", create_order, methods=["POST"])
        return app

    def new_user(self) -> str:
        user = f"test-{uuid.uuid4().hex}"
        self.users.append(user)
        return user

    async def post(
        self,
        user: str,
        key: str | bytes | None,
        *,
        item: str = "A",
        outcome: Outcome = "ok",
        path: str = "/orders",
    ) -> httpx.Response:
        # Bytes: httpx would refuse to encode a non-ASCII str, and that is a case under test.
        headers: dict[bytes, bytes] = {b"X-User": user.encode()}
        if key is not None:
            headers[b"Idempotency-Key"] = key.encode() if isinstance(key, str) else key
        return await self.client.post(
            path, json={"item": item, "outcome": outcome}, headers=headers
        )

    async def next_parked(self) -> asyncio.Event:
        async with asyncio.timeout(5):
            return await self.parked.get()

    async def record(self, user: str, key: str) -> dict[str, object] | None:
        raw = await self.redis.get(record_key(user, key))
        return None if raw is None else dict(json.loads(raw))

    async def cleanup(self) -> None:
        await self.client.aclose()
        for user in self.users:
            async for name in self.redis.scan_iter(match=f"idem:{{u:{user}}}:*"):
                await self.redis.delete(name)


def record_key(user: str, key: str) -> str:
    """The documented layout, written out independently of the module under test."""
    return f"idem:{{u:{user}}}:{hashlib.sha256(key.encode()).hexdigest()}"


def new_key() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
async def redis() -> AsyncIterator[RedisClient]:
    client = build_redis(TEST_REDIS_URL, 2.0)
    await client.ping()  # fail here, clearly, when the test Redis is not running
    yield client
    await client.aclose()


@pytest.fixture
async def h(redis: RedisClient) -> AsyncIterator[Harness]:
    harness = Harness(redis, Idempotency(redis))
    yield harness
    await harness.cleanup()


async def test_without_a_key_every_call_runs(h: Harness) -> None:
    user = h.new_user()
    first = await h.post(user, None)
    second = await h.post(user, None)
    assert (first.status_code, first.json()) == (201, {"item": "A", "run": 1})
    assert (second.status_code, second.json()) == (201, {"item": "A", "run": 2})
    assert "Idempotent-Replayed" not in second.headers
    assert h.runs[user] == 2
    assert [k async for k in h.redis.scan_iter(match=f"idem:{{u:{user}}}:*")] == []


async def test_without_a_key_concurrent_calls_all_run(h: Harness) -> None:
    """Control for the in-flight test: the harness really does hold ten calls at once."""
    user = h.new_user()
    tasks = [asyncio.create_task(h.post(user, None, outcome="wait")) for _ in range(10)]
    parked = [await h.next_parked() for _ in range(10)]
    assert h.runs[user] == 10
    for release in parked:
        release.set()
    responses = await asyncio.gather(*tasks)
    assert sorted(r.json()["run"] for r in responses) == list(range(1, 11))
    assert {r.status_code for r in responses} == {201}


async def test_replay_returns_the_first_answer_without_running_again(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    first = await h.post(user, key)
    again = await h.post(user, key)
    assert (first.status_code, first.json()) == (201, {"item": "A", "run": 1})
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == "application/json"
    assert h.runs[user] == 1


async def test_same_key_for_another_request_is_refused(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    first = await h.post(user, key, item="A")
    other_body = await h.post(user, key, item="B")
    other_path = await h.post(user, key, item="A", path="/tickets")
    for refused in (other_body, other_path):
        assert refused.status_code == 422
        assert refused.json() == {
            "error": "IdempotencyKeyReused",
            "detail": "This Idempotency-Key was already used for a different request; "
            "send a new key for a new request.",
        }
    assert h.runs[user] == 1
    # The refusals did not disturb the stored answer.
    replay = await h.post(user, key, item="A")
    assert (replay.status_code, replay.content) == (201, first.content)


async def test_another_request_is_refused_while_the_first_runs(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    running = asyncio.create_task(h.post(user, key, outcome="wait"))
    release = await h.next_parked()
    refused = await h.post(user, key, item="B")
    assert (refused.status_code, refused.json()["error"]) == (422, "IdempotencyKeyReused")
    release.set()
    assert (await running).status_code == 201
    assert h.runs[user] == 1


async def test_concurrent_requests_with_one_key_run_once(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    tasks = [asyncio.create_task(h.post(user, key, outcome="wait")) for _ in range(10)]
    release = await h.next_parked()
    # The winner is parked until released, so the first nine to finish are the losers. A second
    # winner would park too, and this would time out.
    losers = []
    async with asyncio.timeout(5):
        for finished in asyncio.as_completed(tasks):
            losers.append(await finished)
            if len(losers) == 9:
                break
    for loser in losers:
        assert loser.status_code == 409
        assert loser.json() == {
            "error": "IdempotencyKeyInFlight",
            "detail": "A request with this Idempotency-Key is still being processed; "
            "retry shortly.",
        }
        assert loser.headers["Retry-After"] == "1"
    release.set()
    responses = await asyncio.gather(*tasks)
    winners = [r for r in responses if r.status_code == 201]
    assert len(winners) == 1
    assert winners[0].json() == {"item": "A", "run": 1}
    assert h.runs[user] == 1
    assert h.parked.empty()


async def test_in_flight_record_expires_on_its_own(h: Harness) -> None:
    """A process that dies mid-call must not block the key for a day."""
    user, key = h.new_user(), new_key()
    running = asyncio.create_task(h.post(user, key, outcome="wait"))
    release = await h.next_parked()
    record = await h.record(user, key)
    assert record is not None
    assert record["state"] == "running"
    assert IN_FLIGHT_MS - 5_000 < await h.redis.pttl(record_key(user, key)) <= IN_FLIGHT_MS
    release.set()
    await running


async def test_keys_are_scoped_per_user(h: Harness) -> None:
    alice, bob, key = h.new_user(), h.new_user(), new_key()
    assert (await h.post(alice, key, item="A")).json() == {"item": "A", "run": 1}
    bobs = await h.post(bob, key, item="B")
    assert (bobs.status_code, bobs.json()) == (201, {"item": "B", "run": 1})
    assert "Idempotent-Replayed" not in bobs.headers
    assert (await h.post(alice, key, item="A")).json() == {"item": "A", "run": 1}
    assert (await h.post(bob, key, item="B")).json() == {"item": "B", "run": 1}
    assert (h.runs[alice], h.runs[bob]) == (1, 1)


async def test_a_business_error_is_stored_and_replayed(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    first = await h.post(user, key, outcome="sold_out")
    again = await h.post(user, key, outcome="sold_out")
    assert first.status_code == 409
    assert first.json() == {"error": "SoldOut", "detail": "Those seats were just sold."}
    assert again.status_code == 409
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert h.runs[user] == 1


@pytest.mark.parametrize(
    ("outcome", "status", "error"),
    [
        ("unavailable", 503, "ServiceUnavailable"),
        ("rate_limited", 429, "RateLimited"),
        ("crash", 500, "InternalError"),
    ],
)
async def test_a_retryable_failure_is_not_stored(
    h: Harness, outcome: Outcome, status: int, error: str
) -> None:
    user, key = h.new_user(), new_key()
    first = await h.post(user, key, outcome=outcome)
    assert (first.status_code, first.json()["error"]) == (status, error)
    assert await h.record(user, key) is None
    retry = await h.post(user, key, outcome=outcome)
    assert (retry.status_code, retry.json()["error"]) == (status, error)
    assert "Idempotent-Replayed" not in retry.headers
    assert h.runs[user] == 2


async def test_the_done_record_is_kept_for_24_hours(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    r = await h.post(user, key)
    record = await h.record(user, key)
    assert record is not None
    assert sorted(record) == ["body", "fp", "state", "status"]
    assert (record["state"], record["status"], record["body"]) == ("done", 201, r.text)
    assert DAY_MS - 60_000 < await h.redis.pttl(record_key(user, key)) <= DAY_MS


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"k" * 256, id="256-chars"),
        pytest.param("café".encode(), id="non-ascii"),
        pytest.param(b"a\x01b", id="control"),
        pytest.param(b"a\tb", id="tab"),
        pytest.param(b"a b", id="space"),
    ],
)
async def test_an_invalid_key_is_refused(h: Harness, key: bytes) -> None:
    user = h.new_user()
    r = await h.post(user, key)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == ["header.Idempotency-Key"]
    assert h.runs[user] == 0


@pytest.mark.parametrize("key", ["k", "k" * 255, "!~{}:=/+"], ids=["1-char", "255-chars", "punct"])
async def test_a_valid_key_at_the_limits_is_accepted(h: Harness, key: str) -> None:
    user = h.new_user()
    assert (await h.post(user, key)).status_code == 201
    assert (await h.post(user, key)).headers["Idempotent-Replayed"] == "true"
    assert h.runs[user] == 1


@pytest.mark.parametrize("key", ["", "k" * 256, "a\nb"], ids=["empty", "256-chars", "newline"])
async def test_run_checks_the_key_itself(redis: RedisClient, key: str) -> None:
    """Callers that do not declare IdempotencyKeyHeader still get the key checked."""
    calls = 0

    async def call() -> OrderOut:
        nonlocal calls
        calls += 1
        return OrderOut(item="A", run=calls)

    request = Request({"type": "http", "method": "POST", "path": "/orders", "headers": []})
    with pytest.raises(ValidationError) as refused:
        await Idempotency(redis).run(
            user_id="nobody", key=key, request=request, call=call, status_code=201
        )
    assert refused.value.extra["fields"][0]["field"] == "header.Idempotency-Key"
    assert calls == 0


async def test_a_late_finisher_cannot_overwrite_a_newer_claim(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    late = asyncio.create_task(h.post(user, key, outcome="wait"))
    release_late = await h.next_parked()
    # As if its in-flight lifetime had lapsed: the record is gone and a retry claims the key.
    await h.redis.delete(record_key(user, key))
    newer = asyncio.create_task(h.post(user, key, outcome="wait"))
    release_newer = await h.next_parked()
    newer_claim = await h.record(user, key)

    release_late.set()
    late_response = await late
    # The late call did run and its client gets its real answer, but it is not stored.
    assert (late_response.status_code, late_response.json()) == (201, {"item": "A", "run": 1})
    assert await h.record(user, key) == newer_claim
    assert newer_claim is not None
    assert newer_claim["state"] == "running"

    release_newer.set()
    newer_response = await newer
    assert newer_response.json() == {"item": "A", "run": 2}
    replay = await h.post(user, key, outcome="wait")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == newer_response.content
    assert h.runs[user] == 2


async def test_a_late_failure_cannot_delete_a_newer_claim(h: Harness) -> None:
    user, key = h.new_user(), new_key()
    late = asyncio.create_task(h.post(user, key, outcome="wait_then_503"))
    release_late = await h.next_parked()
    await h.redis.delete(record_key(user, key))
    newer = asyncio.create_task(h.post(user, key, outcome="wait"))
    release_newer = await h.next_parked()
    newer_claim = await h.record(user, key)

    release_late.set()
    assert (await late).status_code == 503
    assert newer_claim is not None
    assert await h.record(user, key) == newer_claim

    release_newer.set()
    assert (await newer).status_code == 201
    record = await h.record(user, key)
    assert record is not None
    assert record["state"] == "done"


async def test_a_cancelled_call_frees_the_key(h: Harness) -> None:
    """The client went away mid-call: nothing was answered, so a retry must run. Cancelled the
    way Starlette and anyio servers cancel: a cancel scope keeps cancelling every later await
    inside it, so the release only reaches Redis if it is shielded."""
    user, key = h.new_user(), new_key()
    async with anyio.create_task_group() as tg:
        tg.start_soon(functools.partial(h.post, user, key, outcome="wait"))
        await h.next_parked()
        assert await h.record(user, key) is not None
        # Drop the idle connections, as a server or a proxy might: the release then has to
        # reconnect first, an await that the cancel scope would interrupt without the shield.
        assert isinstance(h.redis, Redis)
        await h.redis.connection_pool.disconnect()
        tg.cancel_scope.cancel()
    assert await h.record(user, key) is None
    assert (await h.post(user, key)).json() == {"item": "A", "run": 2}


async def test_redis_down_is_503_and_the_call_does_not_run() -> None:
    dead = build_redis("redis://127.0.0.1:1/0", 0.5)
    h = Harness(dead, Idempotency(dead))
    try:
        user = h.new_user()
        r = await h.post(user, new_key())
        assert (r.status_code, r.json()["error"]) == (503, "ServiceUnavailable")
        assert h.runs[user] == 0
        # Without a key nothing needs Redis: the call runs.
        assert (await h.post(user, None)).status_code == 201
    finally:
        await h.client.aclose()
        await dead.aclose()

"""The draw happens once across app processes: two real app processes (`uvicorn --workers 2`
and `python -m app.serve --workers 2`: four event loops, each running the draw job every 0.1 s)
share one Redis and one store. Fans register through both; after the window closes exactly
one process commits the draw ("lottery drawn" logged once in all four workers), exactly one
`lottery.drawn` event is published, and both processes serve the same result, which
scripts/verify-lottery.py recomputes from what they publish."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.auth.tokens import TokenService
from app.platform.redis import RedisClient, build_redis
from app.settings import Settings
from app.waiting_room.lottery import lottery_keys
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_REDIS_URL
from tests.helpers import concert_body
from tests.scaleout.launcher import AppProcess, app_env, two_processes
from tests.waiting_room.test_lottery import lottery_queue, verify

LOTTERY_REDIS_DB = 9
FANS = 400
WINNERS = 40


class Pair:
    def __init__(self, a: AppProcess, b: AppProcess, tokens: TokenService, redis_url: str):
        self.processes = (a, b)
        self.tokens = tokens
        self.redis_url = redis_url

    def url(self, n: int) -> str:
        return self.processes[n % 2].url

    def headers(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue('access', user_id, 'user').token}"}


@pytest.fixture(scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    workdir = tmp_path_factory.mktemp("lottery-processes")
    redis_url = f"{TEST_REDIS_URL.rsplit('/', 1)[0]}/{LOTTERY_REDIS_DB}"
    client = build_redis(redis_url, 5.0)
    await client.flushdb()
    await client.aclose()
    jwt_secret = secrets.token_urlsafe(48)
    env = app_env(
        workdir,
        redis_url,
        jwt_secret,
        ADMIN_EMAIL=ADMIN_EMAIL,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        LOTTERY_REQUIRE_VERIFIED_EMAIL="false",
        LOTTERY_DRAW_INTERVAL_SECONDS="0.1",
        RECONCILE_INTERVAL_SECONDS="0",
        WARMUP_INTERVAL_SECONDS="0",
    )
    with two_processes(workdir, env) as (a, b):
        tokens = TokenService(Settings(app_env="test", jwt_secret=SecretStr(jwt_secret)))
        yield Pair(a, b, tokens, redis_url)


async def _admin(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    r = await http.post(
        f"{url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _committed(redis: RedisClient, concert_id: str, within: float) -> None:
    deadline = time.monotonic() + within
    while await redis.get(lottery_keys(concert_id)[1]) is None:
        assert time.monotonic() < deadline, "no process drew the lottery"
        await asyncio.sleep(0.1)


def _drawn_logs(pair: Pair, concert_id: str) -> list[dict[str, object]]:
    return [
        entry
        for process in pair.processes
        for entry in process.entries()
        if entry.get("msg") == "lottery drawn" and entry.get("concert_id") == concert_id
    ]


async def test_exactly_one_draw_across_two_app_processes(pair: Pair, tmp_path: Path) -> None:
    async with httpx.AsyncClient(timeout=30.0) as http:
        admin = await _admin(http, pair.url(0))
        now = datetime.now(UTC).replace(microsecond=0)
        closes = now + timedelta(seconds=12)
        body = concert_body(
            on_sale_at=(closes + timedelta(minutes=5)).isoformat(),
            queue=lottery_queue(now - timedelta(minutes=1), closes, WINNERS),
        )
        r = await http.post(f"{pair.url(1)}/api/v1/concerts", json=body, headers=admin)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]

        fans = [f"fan-{uuid.uuid4().hex[:10]}" for _ in range(FANS)]
        gate = asyncio.Semaphore(32)

        async def register(n: int, user: str) -> int:
            async with gate:
                r = await http.post(
                    f"{pair.url(n)}/api/v1/concerts/{cid}/registrations",
                    headers=pair.headers(user),
                )
                assert r.status_code in (200, 201), r.text
                return r.status_code

        # Each fan twice, through both processes at once.
        codes = await asyncio.gather(
            *(register(n + k, user) for n, user in enumerate(fans) for k in (0, 1))
        )
        assert codes.count(201) == FANS
        assert codes.count(200) == FANS
        assert datetime.now(UTC) < closes, "registering took longer than the window"

        redis = build_redis(pair.redis_url, 5.0)
        try:
            await asyncio.sleep(max(0.0, (closes - datetime.now(UTC)).total_seconds()))
            await _committed(redis, cid, within=10.0)
            await asyncio.sleep(1.0)  # every worker's job has looked at it since
            raw = await redis.xrange(Settings().events_stream, "-", "+") or []
        finally:
            await redis.aclose()
        announced = [
            fields
            for _, fields in raw
            if fields is not None
            and fields.get(b"type") == b"lottery.drawn"
            and json.loads(fields[b"data"])["concert_id"] == cid
        ]
        assert len(announced) == 1
        assert json.loads(announced[0][b"data"])["winners"] == WINNERS
        logs = _drawn_logs(pair, cid)
        assert len(logs) == 1, logs

        late = await http.post(
            f"{pair.url(0)}/api/v1/concerts/{cid}/registrations", headers=pair.headers("late")
        )
        assert late.status_code == 409

        served: list[dict[str, Any]] = [
            (await http.get(f"{pair.url(n)}/api/v1/concerts/{cid}/lottery")).json() for n in (0, 1)
        ]
        assert served[0] == served[1]
        assert served[0]["entries"] == FANS
        assert served[0]["winners_drawn"] == WINNERS
        pages = [
            (
                await http.get(
                    f"{pair.url(n)}/api/v1/concerts/{cid}/lottery/entries",
                    params={"order": order, "limit": FANS},
                )
            ).json()
            for n, order in ((0, "sorted"), (1, "draw"))
        ]
        run = verify(tmp_path, served[0], pages[0]["items"], pages[1]["items"])
        assert run.returncode == 0, run.stdout + run.stderr
        winners = json.loads(run.stdout)["winners"]
        assert len(winners) == WINNERS

        statuses = [
            (
                await http.get(
                    f"{pair.url(n)}/api/v1/concerts/{cid}/registrations/me",
                    headers=pair.headers(user),
                )
            ).json()["status"]
            for n, user in enumerate(fans)
        ]
        assert statuses.count("won") == WINNERS
        assert statuses.count("lost") == FANS - WINNERS

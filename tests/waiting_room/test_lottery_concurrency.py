"""The lottery under real concurrency on real Redis: 10,000 registrations from many tasks (with
duplicate attempts racing the first ones) leave exactly 10,000 entries, none twice; two draws
racing on separate connections commit one result; the draw recomputed by
scripts/verify-lottery.py from the published data equals the served one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.platform.redis import build_redis
from app.settings import Settings
from app.waiting_room.lottery import LotteryEngine, LotteryService, draw_order
from tests.helpers import CONCERTS, container_of
from tests.waiting_room.test_lottery import all_entries, lottery_concert, verify

REGISTRANTS = 10_000
TASKS = 200
DUPLICATES_PER_TASK = 25
WINNERS = 250


async def test_ten_thousand_concurrent_registrations_then_one_draw(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    settings: Settings,
    tmp_path: Path,
) -> None:
    created = await lottery_concert(client, admin_headers, winners=WINNERS)
    c = container_of(app)
    concert = await c.catalogue.load(created["id"])
    lottery = c.waiting_room.lottery
    assert lottery is not None
    users = [f"fan-{i:05d}" for i in range(REGISTRANTS)]
    outcomes: list[str] = []
    entries_of: dict[str, set[str]] = {}

    async def registrar(number: int, share: list[str]) -> None:
        rng = random.Random(number)  # which duplicates: not a secret
        # Duplicates first, racing the other tasks' first attempts for the same accounts.
        for user in [*rng.sample(users, DUPLICATES_PER_TASK), *share]:
            outcome, registration = await lottery.register(concert, user)
            outcomes.append(outcome)
            entries_of.setdefault(user, set()).add(registration.entry_id)

    await asyncio.gather(
        *(registrar(n, users[n::TASKS]) for n in range(TASKS)),
    )

    assert outcomes.count("created") == REGISTRANTS
    assert outcomes.count("existing") == TASKS * DUPLICATES_PER_TASK
    assert all(len(ids) == 1 for ids in entries_of.values())  # one entry id per account
    stored = await lottery.engine.entries(concert.id)
    assert len(stored) == REGISTRANTS
    assert sorted(stored.values()) == users  # every account exactly once
    served = (await client.get(f"{CONCERTS}/{concert.id}/lottery")).json()
    assert served["registrations"] == REGISTRANTS

    # Registration closes (the record's window moved to now): no more entries.
    closed = dataclasses.replace(
        concert,
        queue=dataclasses.replace(
            concert.queue, registration_closes_at=datetime.now(UTC) - timedelta(seconds=1)
        ),
    )
    outcome, _ = await lottery.register(closed, "latecomer")
    assert outcome == "closed"

    # Two services on their own connections (as two processes) draw at once.
    clients = [build_redis(settings.redis_url, 5.0, cluster=settings.redis_cluster) for _ in "ab"]
    try:
        services = [
            LotteryService(
                LotteryEngine(r),
                r,
                settings.signing_secret,
                registrations=c.store.lottery_registrations,
                pass_ttl_seconds=600,
            )
            for r in clients
        ]
        results = await asyncio.gather(*(s.draw(closed) for s in services))
        again = await services[0].draw(closed)
    finally:
        for r in clients:
            await r.aclose()
    assert sorted(mine for mine, _ in results) == [False, True]
    assert results[0][1] == results[1][1] == again[1]
    assert again[0] is False
    # The losing drawer's staged lists are gone, not left beside the committed ones.
    stages = [k async for k in c.redis.scan_iter(match=f"{{lot:{concert.id}}}:stage:*")]
    assert stages == []
    draw = results[0][1]
    assert draw is not None
    assert draw.entries == REGISTRANTS
    assert draw.winners == WINNERS
    assert draw.seed == lottery.seed(concert.id)
    outcome, _ = await lottery.register(concert, "after-the-draw")  # window open, draw done
    assert outcome == "closed"

    order = await lottery.engine.page(concert.id, "order", 0, REGISTRANTS + 1)
    assert order == draw_order(draw.seed, stored)
    assert len(set(order)) == REGISTRANTS

    # Anyone can recompute it from what is published.
    published = (await client.get(f"{CONCERTS}/{concert.id}/lottery")).json()
    assert published["state"] == "drawn"
    entries = await all_entries(client, concert.id, "sorted", page=5000)
    run = verify(tmp_path, published, entries, order)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["winners"] == order[:WINNERS]

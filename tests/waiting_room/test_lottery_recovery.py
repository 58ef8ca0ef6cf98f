"""The presale lottery survives a Redis loss, on real Redis and the real store: registrations
are the store's records, so after a FLUSHDB (before or after the draw) every fan is still
registered, the count is right, the draw includes everyone, and a draw lost with Redis comes
back identical (won/lost, places, the served order), with the winners' gate holding."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.platform.redis import build_redis
from app.settings import Settings
from app.storage.records import LotteryRegistration
from app.waiting_room.lottery import (
    LotteryEngine,
    LotteryService,
    draw_order,
    lottery_keys,
)
from tests.helpers import CONCERTS, buyer, container_of
from tests.waiting_room.test_api import wait_admitted
from tests.waiting_room.test_lottery import (  # noqa: F401 - fixtures used by name
    all_entries,
    lc,
    lottery_admin,
    lottery_app,
    lottery_concert,
    until_drawn,
    verify,
)

FANS = 16


def _without_drawn_at(state: dict[str, Any]) -> dict[str, Any]:
    """A recomputed draw is the same draw; only its `drawn_at` is the recomputation's."""
    return {k: v for k, v in state.items() if k != "drawn_at"}


async def test_registrations_and_the_draw_survive_flushes(
    lc: httpx.AsyncClient,  # noqa: F811
    lottery_app: FastAPI,  # noqa: F811
    lottery_admin: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    concert = await lottery_concert(lc, lottery_admin, closes_in=8.0, winners=3)
    cid = concert["id"]
    registrations = f"{CONCERTS}/{cid}/registrations"
    redis = container_of(lottery_app).redis
    fans = [buyer(lottery_app) for _ in range(FANS)]

    firsts = await asyncio.gather(*(lc.post(registrations, headers=f) for f in fans))
    assert [r.status_code for r in firsts] == [201] * FANS, [r.text for r in firsts]

    await redis.flushdb()  # Redis lost everything (a failover without persistence)

    mes = await asyncio.gather(*(lc.get(f"{registrations}/me", headers=f) for f in fans))
    for first, me in zip(firsts, mes, strict=True):
        assert me.status_code == 200, me.text
        assert me.json()["status"] == "registered"
        assert me.json()["entry_id"] == first.json()["entry_id"]
        assert me.json()["registered_at"] == first.json()["registered_at"]
    state = (await lc.get(f"{CONCERTS}/{cid}/lottery")).json()
    assert state["state"] == "open"
    assert state["registrations"] == FANS
    # Registering again, twice at once each: the same registration, no second entry.
    again = await asyncio.gather(*(lc.post(registrations, headers=f) for f in fans + fans))
    assert [r.status_code for r in again] == [200] * (2 * FANS), [r.text for r in again]
    assert [r.json()["entry_id"] for r in again] == [r.json()["entry_id"] for r in firsts] * 2
    newcomer = buyer(lottery_app)
    joined = await lc.post(registrations, headers=newcomer)
    assert joined.status_code == 201, joined.text
    fans.append(newcomer)
    firsts.append(joined)
    assert (await lc.get(f"{CONCERTS}/{cid}/lottery")).json()["registrations"] == FANS + 1

    await redis.flushdb()  # again before the draw: the draw reads the store

    drawn = await until_drawn(lc, cid)
    assert drawn["entries"] == FANS + 1
    entries = await all_entries(lc, cid, "sorted", page=5)
    order = await all_entries(lc, cid, "draw", page=5)
    assert entries == sorted(r.json()["entry_id"] for r in firsts)  # everyone is in it
    run = verify(tmp_path, drawn, entries, order)
    assert run.returncode == 0, run.stdout + run.stderr
    before = [(await lc.get(f"{registrations}/me", headers=f)).json() for f in fans]
    assert sorted(b["status"] for b in before) == ["lost"] * (FANS - 2) + ["won"] * 3

    await redis.flushdb()  # after the draw: it comes back the same

    after = [(await lc.get(f"{registrations}/me", headers=f)).json() for f in fans]
    assert after == before
    assert await all_entries(lc, cid, "draw", page=5) == order
    assert await all_entries(lc, cid, "sorted", page=5) == entries
    state_after = (await lc.get(f"{CONCERTS}/{cid}/lottery")).json()
    assert _without_drawn_at(state_after) == _without_drawn_at(drawn)

    # The winners' gate still holds: everyone joins, losers first; only winners get passes.
    standing = {b["entry_id"]: (fan, b) for fan, b in zip(fans, after, strict=True)}
    winners = [standing[e][0] for e in order[:3]]
    losers = [standing[e][0] for e in order[3:6]]
    for fan in [*losers, *reversed(winners)]:
        r = await lc.post(f"{CONCERTS}/{cid}/queue", headers=fan)
        assert r.status_code == 200, r.text
    passes = [await wait_admitted(lc, cid, fan, within=15.0) for fan in winners]
    assert all(p["pass"] for p in passes)
    await asyncio.sleep(1.0)
    for fan in losers:
        status = (await lc.get(f"{CONCERTS}/{cid}/queue", headers=fan)).json()
        assert status["state"] == "waiting", status
        assert status.get("pass") is None
        refused = await lc.post(
            f"{CONCERTS}/{cid}/holds", json={"seat_ids": ["floor-A-1"]}, headers=fan
        )
        assert refused.status_code == 403, refused.text


async def _drop_lottery_keys(redis: Any, concert_id: str) -> None:
    tag = "{lot:" + concert_id + "}"
    keys = [k async for k in redis.scan_iter(match=f"{tag}:*")]
    await redis.delete(*lottery_keys(concert_id), *keys)


async def test_concurrent_registrations_through_losses_then_the_same_draw_anywhere(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    settings: Settings,
) -> None:
    created = await lottery_concert(client, admin_headers, winners=40)
    c = container_of(app)
    concert = await c.catalogue.load(created["id"])
    lottery = c.waiting_room.lottery
    assert lottery is not None
    store = c.store.lottery_registrations
    users = [f"fan-{i:04d}" for i in range(400)]
    outcomes: list[str] = []

    async def registrar(share: list[str]) -> None:
        for user in share:
            outcome, _ = await lottery.register(concert, user)
            outcomes.append(outcome)

    async def losses() -> None:
        for _ in range(4):
            await asyncio.sleep(0.05)
            await _drop_lottery_keys(c.redis, concert.id)

    # 40 tasks register every account twice (each account's two attempts race), while the
    # lottery's Redis keys are lost four times.
    await asyncio.gather(*(registrar((users + users)[n::40]) for n in range(40)), losses())

    assert outcomes.count("created") == len(users)
    assert outcomes.count("existing") == len(users)
    assert await store.count(concert.id) == len(users)
    assert await lottery.count(concert) == len(users)  # Redis rebuilt from the store
    assert sorted((await lottery.engine.entries(concert.id)).values()) == users

    closed = dataclasses.replace(
        concert,
        queue=dataclasses.replace(
            concert.queue, registration_closes_at=datetime.now(UTC) - timedelta(seconds=1)
        ),
    )
    await _drop_lottery_keys(c.redis, concert.id)
    mine, draw = await lottery.draw(closed)
    assert mine
    assert draw is not None
    assert draw.entries == len(users)
    stored_ids = [r.entry_id for r in await store.list_for_concert(concert.id)]
    order = await lottery.engine.page(concert.id, "order", 0, len(users) + 1)
    assert order == draw_order(draw.seed, stored_ids)

    # Redis lost it; another process, which never saw the draw, draws it again: the same.
    await _drop_lottery_keys(c.redis, concert.id)
    other_redis = build_redis(settings.redis_url, 5.0, cluster=settings.redis_cluster)
    try:
        other = LotteryService(
            LotteryEngine(other_redis),
            other_redis,
            settings.signing_secret,
            registrations=store,
            pass_ttl_seconds=600,
        )
        again = await other.current(closed)
        assert again is not None
        assert dataclasses.replace(again, drawn_at=draw.drawn_at) == draw
        assert await other.engine.page(concert.id, "order", 0, len(users) + 1) == order
        for user in users[:25]:
            found = await other.standing(closed, user)
            assert found is not None
            assert found[0].rank == order.index(lottery.entry_id(concert.id, user))
    finally:
        await other_redis.aclose()

    # A registration stored after the draw had read the entries (its request was slow) is
    # not in the draw: it is taken back when it is mirrored, not answered as registered.
    straggler = LotteryRegistration(
        concert.id, "straggler", lottery.entry_id(concert.id, "straggler"), datetime.now(UTC)
    )
    assert await store.register(straggler)
    assert await lottery.standing(closed, "straggler") is None
    assert await store.get(concert.id, "straggler") is None
    # Refused after the draw (window still open in the record): nothing is written.
    outcome, _ = await lottery.register(concert, "after-the-draw")
    assert outcome == "closed"
    assert await store.get(concert.id, "after-the-draw") is None
    assert await store.count(concert.id) == len(users)

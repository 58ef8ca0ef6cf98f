"""The presale lottery (app/waiting_room/lottery.py): registrations per second, and what the
draw costs, by size.

    .venv/bin/python bench/lottery.py --redis redis://127.0.0.1:6379/14 --sizes 10000 100000
    .venv/bin/python bench/lottery.py --store postgresql+asyncpg://postgres@127.0.0.1/bench ...

The Redis database is emptied first and last: give it one of its own (likewise the store: by
default an SQLite file in a temporary folder). For each size: that many registrations through
`LotteryService.register` (what POST .../registrations does: the store's conditional insert,
then the Redis mirror script; 200 in flight from this one process), then the draw as the job
makes it: read the entries, order them (SHA-256 per entry, in this process), and commit (the
lists staged in batches of 5,000, then `lua/lottery_draw.lua` renames them into place). Redis's
own time (INFO commandstats): in all, per staging batch (the longest Redis answers nothing
else) and for the final script.

Nothing passes or fails: the figures are for docs/performance.md ("Presale lottery").
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.platform.redis import RedisClient, build_redis
from app.settings import Settings
from app.storage.factory import build_store
from app.storage.records import Concert, QueueSettings
from app.waiting_room.lottery import LotteryEngine, LotteryService, draw_order

_COMMIT_COMMANDS = ("evalsha", "rpush", "hset", "pexpire")


async def _usec(redis: RedisClient) -> dict[str, tuple[int, int]]:
    """Redis's own time (µs) and calls so far of the commands a commit uses."""
    stats = await redis.info("commandstats")
    found: dict[str, tuple[int, int]] = {}
    for command in _COMMIT_COMMANDS:
        entry = stats.get(f"cmdstat_{command}", {})
        found[command] = (int(entry.get("usec", 0)), int(entry.get("calls", 0)))
    return found


def _concert(concert_id: str, now: datetime) -> Concert:
    queue = QueueSettings(
        enabled=True,
        mode="lottery",
        registration_opens_at=now - timedelta(minutes=1),
        registration_closes_at=now + timedelta(days=1),
        winners=1000,
    )
    return Concert(
        id=concert_id,
        title="Bench",
        artist="Bench",
        genre="bench",
        description="",
        venue_name="Bench",
        venue_city="Bench",
        starts_at=now + timedelta(days=3),
        on_sale_at=now + timedelta(days=2),
        currency="EUR",
        max_tickets_per_user=4,
        queue=queue,
        sections=(),
        created_at=now,
        updated_at=now,
    )


async def run(url: str, store_url: str, sizes: list[int]) -> None:
    redis = build_redis(url, 120.0)
    await redis.flushdb()
    store = build_store(Settings(database_url=store_url, db_auto_migrate=True))
    await store.initialize()
    engine = LotteryEngine(redis)
    lottery = LotteryService(
        engine,
        redis,
        "bench-secret-" + "x" * 32,
        registrations=store.lottery_registrations,
        pass_ttl_seconds=600,
    )
    gate = asyncio.Semaphore(200)
    try:
        for n in sizes:
            now = datetime.now(UTC)
            concert = _concert(f"bench-{n}-{int(now.timestamp())}", now)

            async def register(i: int, concert: Concert = concert) -> None:
                async with gate:
                    outcome, _ = await lottery.register(concert, f"user-{i}")
                    assert outcome == "created", outcome

            started = time.perf_counter()
            await asyncio.gather(*(register(i) for i in range(n)))
            registered = time.perf_counter()
            entries = list((await engine.entries(concert.id)).keys())
            order = draw_order("ab" * 32, entries)
            computed = time.perf_counter()
            before = await _usec(redis)
            closes_ms = int(now.timestamp() * 1000) - 1
            outcome, _ = await engine.commit(concert.id, "{}", closes_ms, order)
            committed = time.perf_counter()
            after = await _usec(redis)
            assert outcome == "committed", outcome
            spent = {c: after[c][0] - before[c][0] for c in _COMMIT_COMMANDS}
            batch = (spent["rpush"] + spent["hset"]) / max(1, after["hset"][1] - before["hset"][1])
            print(
                f"{n:>9,} entries: register {n / (registered - started):,.0f}/s; "
                f"read + order {computed - registered:.3f} s; "
                f"commit {committed - computed:.3f} s, inside Redis "
                f"{sum(spent.values()) / 1e6:.3f} s in all, {batch / 1000:.1f} ms per batch, "
                f"{spent['evalsha'] / 1000:.2f} ms the final script"
            )
    finally:
        await redis.flushdb()
        await redis.aclose()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--store", help="DATABASE_URL (default: SQLite in a temporary folder)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(run(args.redis, store, args.sizes))


if __name__ == "__main__":
    main()

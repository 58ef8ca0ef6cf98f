"""The presale lottery's Redis side (app/waiting_room/lottery.py): registrations per second, and
what the draw costs, by size.

    .venv/bin/python bench/lottery.py --redis redis://127.0.0.1:6379/14 --sizes 10000 100000

The database is emptied first and last: give it one of its own. For each size: that many
registrations through `LotteryEngine.register` (the Lua script of POST .../registrations, 200 in
flight from this one process), then the draw as the job makes it: read the entries, order them
(SHA-256 per entry, in this process), and commit (the lists staged in batches of 5,000, then
`lua/lottery_draw.lua` renames them into place). Redis's own time (INFO commandstats): in all,
per staging batch (the longest Redis answers nothing else) and for the final script.

Nothing passes or fails: the figures are for docs/performance.md ("Presale lottery").
"""

from __future__ import annotations

import argparse
import asyncio
import time

from app.platform.redis import RedisClient, build_redis
from app.waiting_room.lottery import LotteryEngine, draw_order

_COMMIT_COMMANDS = ("evalsha", "rpush", "hset", "pexpire")


async def _usec(redis: RedisClient) -> dict[str, tuple[int, int]]:
    """Redis's own time (µs) and calls so far of the commands a commit uses."""
    stats = await redis.info("commandstats")
    found: dict[str, tuple[int, int]] = {}
    for command in _COMMIT_COMMANDS:
        entry = stats.get(f"cmdstat_{command}", {})
        found[command] = (int(entry.get("usec", 0)), int(entry.get("calls", 0)))
    return found


async def run(url: str, sizes: list[int]) -> None:
    redis = build_redis(url, 120.0)
    await redis.flushdb()
    engine = LotteryEngine(redis)
    gate = asyncio.Semaphore(200)
    try:
        for n in sizes:
            concert = f"bench-{n}"
            now_ms = int(time.time() * 1000)

            async def register(i: int, concert: str = concert, now_ms: int = now_ms) -> None:
                async with gate:
                    await engine.register(
                        concert, f"{i:032x}", f"user-{i}", now_ms - 1000, now_ms + 10**8
                    )

            started = time.perf_counter()
            await asyncio.gather(*(register(i) for i in range(n)))
            registered = time.perf_counter()
            entries = list((await engine.entries(concert)).keys())
            order = draw_order("ab" * 32, entries)
            computed = time.perf_counter()
            before = await _usec(redis)
            outcome, _ = await engine.commit(concert, "{}", now_ms - 1, order)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    asyncio.run(run(args.redis, args.sizes))


if __name__ == "__main__":
    main()

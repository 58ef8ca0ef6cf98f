"""Hold throughput against the trivial endpoint, both driven by wrk, plus the raw Lua rate.

    .venv/bin/python bench/ratio.py                   # 2 workers, 10 s per HTTP phase
    .venv/bin/python bench/ratio.py --workers 1 --duration 20

Phases (same server, same run, same wrk settings for the two HTTP phases):
  lua-pipelined  redis-benchmark EVALSHA of the hold script, 16 per round trip: what Redis
                 itself can do with the script
  lua            the same, one per round trip (50 connections)
  healthz        wrk GET /healthz
  holds          wrk POST /api/v1/concerts/{id}/holds, one seat each, a distinct buyer each
                 (tokens minted with the server's key), seats in random order, never repeated
Target (issue #9): holds/s >= 0.5 x healthz req/s. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import print_header
from kit import (
    API,
    WINDOW_HEADER,
    BenchError,
    Results,
    Stack,
    Window,
    bench_main,
    bench_parser,
    fmt,
    lua_lines,
    run_wrk,
    seat_ids_of,
    settings_of,
    window_columns,
)

from app.seats.engine import _SCRIPTS, _read_lua, concert_keys  # noqa: F401

TARGET_RATIO = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per HTTP phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--seats", type=int, default=100_000, help="seats of the hold venue")
    parser.add_argument(
        "--lua-requests", type=int, default=200_000, help="EVALSHA calls per Lua phase"
    )
    parser.add_argument(
        "--phases", default="lua-pipelined,lua,healthz,holds", help="comma-separated subset"
    )
    return parser.parse_args(argv)


# --- the raw Lua rate: redis-benchmark -------------------------------------------------------


def lua_phase(
    stack: Stack, sha: str, concert_id: str, requests: int, pipeline: int
) -> tuple[float, dict[str, Any]]:
    """redis-benchmark EVALSHA hold, random seat/user/hold ids (`__rand_int__`)."""
    binary = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if binary is None:
        raise BenchError(
            "redis-benchmark is not on PATH (it comes with redis-server / redis-tools)"
        )
    keys = concert_keys(concert_id)
    command = [
        binary,
        "-p", str(stack.redis_server.port),
        "-c", "50",
        "-n", str(requests),
        "-P", str(pipeline),
        "-r", "1000000",
        "-q",
        "EVALSHA", sha, str(len(keys)), *keys,
        "h:__rand_int__", "u:__rand_int__", "3600000", "8", "200", "", "", "", "0",
        "__rand_int__",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"redis-benchmark failed: {done.stderr or done.stdout}")
    # -q prints "EVALSHA ...: 12345.67 requests per second, p50=0.303 msec"
    text = done.stdout.replace("\r", "\n").strip().splitlines()[-1]
    match = re.search(r"([\d.,]+) requests per second", text)
    if match is None:
        raise BenchError(f"redis-benchmark printed no rate: {done.stdout[-500:]}")
    rate = float(match.group(1).replace(",", ""))
    return rate, {"wall_s": round(wall, 2), "redis_benchmark": text.strip()}


async def load_engine_venue(stack: Stack, concert_id: str, seats: int) -> str:
    from app.seats.engine import SeatEngine

    assert stack.redis is not None
    engine = SeatEngine(stack.redis)
    await engine.load(concert_id, "A" * seats, {}, {})
    script = _read_lua("_lib.lua") + "\n" + _read_lua("hold.lua")
    sha: Any = await stack.redis.script_load(script)
    return sha.decode() if isinstance(sha, bytes) else str(sha)


# --- the HTTP phases ---------------------------------------------------------------------------


def hold_lines(path: Path, concert_id: str, seat_ids: list[str], tokens: list[str]) -> None:
    order = list(range(len(seat_ids)))
    random.shuffle(order)
    with path.open("w") as out:
        for n, i in enumerate(order):
            body = json.dumps({"seat_ids": [seat_ids[i]]}, separators=(",", ":"))
            out.write(f"{API}/concerts/{concert_id}/holds\t{tokens[n]}\t{body}\n")


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    ready = await stack.start()
    results.setup["server_ready_s"] = round(ready, 2)
    base = stack.service.base_url
    rows = results.rows

    def row(name: str, ok: float, req: float, lat: dict[str, float], w: Window | None,
            calls: int, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        rows.append(
            {
                "phase": name,
                "ok_per_s": round(ok, 1),
                "req_per_s": round(req, 1),
                "latency_ms": lat,
                "window": w,
                "cpu_us_per_call": w.cpu_us_per(calls) if w else None,
                "calls": calls,
                **(extra or {}),
            }
        )
        print(f"    {name}: {ok:,.0f} ok/s, {req:,.0f} req/s, latency {lat}", flush=True)

    if any(p.startswith("lua") for p in phases):
        concert_id = "bench-lua"
        sha = await load_engine_venue(stack, concert_id, 1_000_000)
        for name, pipeline in (("lua-pipelined", 16), ("lua", 1)):
            if name not in phases:
                continue
            print(f"[{name}] redis-benchmark EVALSHA hold, pipeline {pipeline}", flush=True)
            meter = stack.meter()
            async with meter:
                rate, extra = await asyncio.to_thread(
                    lua_phase, stack, sha, concert_id, args.lua_requests, pipeline
                )
            assert stack.redis is not None
            held = await stack.redis.hlen(concert_keys(concert_id)[1])
            extra["holds_stored_so_far"] = held
            row(name, rate, rate, {}, meter.window, args.lua_requests, extra)
        assert stack.redis is not None
        await stack.redis.delete(*concert_keys(concert_id))

    workdir = stack.workdir
    wrk_kw = {
        "threads": args.threads,
        "connections": args.connections,
        "workdir": workdir,
    }
    if "healthz" in phases:
        print(f"[healthz] wrk -t{args.threads} -c{args.connections} GET /healthz", flush=True)
        lua = "wrk.method = 'GET'\n"
        if args.warmup > 0:
            await run_wrk(f"{base}/healthz", lua, duration_s=args.warmup, **wrk_kw)
        meter = stack.meter()
        async with meter:
            res = await run_wrk(f"{base}/healthz", lua, duration_s=args.duration, **wrk_kw)
        row("healthz", res.ok / res.duration_s, res.rate, res.latency_ms, meter.window,
            res.requests, {"non2xx": res.non2xx, "errors": res.errors})  # fmt: skip

    if "holds" in phases:
        t0 = time.perf_counter()
        concert = await stack.create_concert(args.seats)
        seat_ids = seat_ids_of(concert)
        results.setup["venue_create_and_warm_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        tokens = stack.tokens(len(seat_ids))
        results.setup["tokens_mint_s"] = round(time.perf_counter() - t0, 2)
        data = workdir / "holds.tsv"
        hold_lines(data, concert["id"], seat_ids, tokens)
        lua = lua_lines(data, "POST", args.threads)
        print(
            f"[holds] wrk -t{args.threads} -c{args.connections} POST holds, "
            f"{len(seat_ids):,} distinct buyers and seats",
            flush=True,
        )
        # The warm-up takes its own seats: the measured run's holds are fresh ones.
        if args.warmup > 0:
            warm_lines = workdir / "holds-warm.tsv"
            lines = data.read_text().splitlines()
            cut = min(len(lines) // 5, 5000)
            warm_lines.write_text("\n".join(lines[:cut]) + "\n")
            data.write_text("\n".join(lines[cut:]) + "\n")
            await run_wrk(
                f"{base}/",
                lua_lines(warm_lines, "POST", args.threads),
                duration_s=args.warmup,
                **wrk_kw,
            )
        meter = stack.meter()
        with stack.profile("holds"):
            async with meter:
                res = await run_wrk(f"{base}/", lua, duration_s=args.duration, **wrk_kw)
        row("holds", res.ok / res.duration_s, res.rate, res.latency_ms, meter.window,
            res.requests, {"non2xx": res.non2xx, "errors": res.errors,
                           "distinct_buyers_available": len(seat_ids)})  # fmt: skip
        if res.requests > len(seat_ids):
            results.notes.append(
                "more holds were sent than the venue has seats: the repeats answered 409"
            )
    await stack.stop()


def derive(results: Results) -> None:
    by = {r["phase"]: r for r in results.rows}
    if "holds" in by and "healthz" in by and by["healthz"]["req_per_s"]:
        ratio = by["holds"]["ok_per_s"] / by["healthz"]["req_per_s"]
        results.derived["holds_per_s_over_healthz_req_per_s"] = round(ratio, 3)
        results.derived["target_ratio"] = TARGET_RATIO
        results.derived["target_met"] = ratio >= TARGET_RATIO
    if "holds" in by and "lua-pipelined" in by:
        results.derived["http_holds_over_lua_pipelined"] = round(
            by["holds"]["ok_per_s"] / by["lua-pipelined"]["ok_per_s"], 3
        )
    for r in results.rows:
        w: Window | None = r["window"]
        if w is not None and (w.other_pct or 0) > 25:
            results.notes.append(
                f"{r['phase']}: other processes used {w.other_pct:.0f}% of a core "
                f"({', '.join(w.others_top) or 'unknown'}): figures are lower than on an idle "
                "machine"
            )


def print_table(results: Results) -> None:
    s = results.settings
    print(
        f"Load: wrk {s['threads']} thread(s), {s['connections']} connections, "
        f"{s['duration_s']:g} s per HTTP phase after {s['warmup_s']:g} s warm-up; Lua: "
        "redis-benchmark, 50 connections"
    )
    print()
    header = (
        f"{'phase':<14} {'ok/s':>8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} "
        f"{WINDOW_HEADER}   {'us/call: gen':>12} {'server':>6} {'redis':>6}"
    )
    print_header(header)
    for r in results.rows:
        lat = r["latency_ms"]
        us = r["cpu_us_per_call"] or {}
        gen = (us.get("generator") or 0) + (us.get("bench") or 0)
        print(
            f"{r['phase']:<14} {fmt(r['ok_per_s']):>8} {fmt(r['req_per_s']):>8} "
            f"{fmt(lat.get('p50'), 2):>7} {fmt(lat.get('p99'), 2):>7} {fmt(lat.get('p999'), 2):>7} "
            f"{window_columns(r['window'])}   {fmt(gen):>12} {fmt(us.get('server')):>6} "
            f"{fmt(us.get('redis')):>6}"
        )
    print()
    d = results.derived
    if "holds_per_s_over_healthz_req_per_s" in d:
        verdict = "met" if d["target_met"] else "NOT met"
        print(
            f"  holds/s / healthz req/s = {d['holds_per_s_over_healthz_req_per_s']:.2f} "
            f"(target >= {TARGET_RATIO}: {verdict})"
        )
    if "http_holds_over_lua_pipelined" in d:
        print(f"  HTTP holds/s / raw Lua holds/s = {d['http_holds_over_lua_pipelined']:.2f}")
    print(
        "  gen% = the load generator's CPU (wrk or redis-benchmark, plus this script), "
        "% of one core; other% = busy time no measured process explains"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_of(
        args, "threads", "connections", "duration_s=duration", "warmup_s=warmup", "seats"
    )
    banner = (
        f"Encore hold ratio: {args.workers} worker(s), store {args.store}, wrk "
        f"-t{args.threads} -c{args.connections}, {args.duration:g} s per phase"
    )
    return bench_main("ratio", args, banner, settings, run, derive, print_table)


if __name__ == "__main__":
    sys.exit(main())

"""The seat map of a 50,000-seat venue: reads/s of GET /seats, and SSE fan-out to 5,000 listeners.

    .venv/bin/python bench/fanout.py                      # 2 workers, 5,000 listeners
    .venv/bin/python bench/fanout.py --listeners 2000 --changes 100

Phases:
  map-static   wrk GET /concerts/{id}/seats (about 64 KB each) while nothing changes
  map-live     the same while a writer holds and releases a seat back to back (every change
               is a new version, re-rendered once per process and version)
  connect      `--listeners` SSE connections to /concerts/{id}/seats/stream, each reading its
               snapshot; the server's memory before and after
  idle         10 s with every listener connected and nothing changing
  fan-out      `--changes` holds, each followed by a pause of `--interval` s, each a change
               every listener must receive: per change, the time from the hold request's
               send to the last listener receiving it (and to the median one), p50/p99 over
               the changes
The listeners are one Python process (asyncio protocols, a few microseconds per event); its CPU
is printed with the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Any

from harness import print_header
from kit import (
    API,
    WINDOW_HEADER,
    Results,
    Stack,
    bench_main,
    bench_parser,
    connect,
    fmt,
    http_request,
    latency_summary,
    run_wrk,
    seat_ids_of,
    settings_of,
    window_columns,
)

_EVENT = re.compile(rb"id: (\d+)\nevent: (\w+)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per map phase")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (map)")
    parser.add_argument("--listeners", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument(
        "--interval", type=float, default=0.2, help="pause after each change's hold answered"
    )
    parser.add_argument("--phases", default="map-static,map-live,fan-out")
    return parser.parse_args(argv)


class Listener(asyncio.Protocol):
    def __init__(self, request: bytes, arrivals: dict[int, float]) -> None:
        self.request = request
        self.arrivals = arrivals  # shared: version -> (filled per listener below)
        self.seen: dict[int, float] = {}
        self.snapshot = asyncio.get_running_loop().create_future()
        self.carry = b""
        self.transport: Any = None
        self.status = 0
        self.closed = False

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.status and data.startswith(b"HTTP/1.1 "):
            self.status = int(data[9:12])
        buffer = self.carry + data
        for match in _EVENT.finditer(buffer):
            version, kind = int(match.group(1)), match.group(2)
            if kind == b"snapshot":
                if not self.snapshot.done():
                    self.snapshot.set_result(version)
            elif version not in self.seen:
                self.seen[version] = now
        self.carry = buffer[-64:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError("closed before the snapshot"))


async def map_phases(
    args: argparse.Namespace, stack: Stack, results: Results, concert: dict[str, Any]
) -> None:
    path = f"{API}/concerts/{concert['id']}/seats"
    lua = f'wrk.method = "GET"\nwrk.path = "{path}"\n'
    url = stack.service.base_url + path
    kw = {"threads": 1, "connections": args.connections, "workdir": stack.workdir}
    writer_seats = seat_ids_of(concert)[-32:]
    for phase in ("map-static", "map-live"):
        if phase not in args.phases:
            continue
        print(f"[{phase}] wrk -t1 -c{args.connections} GET /seats, {args.duration:g} s", flush=True)
        await run_wrk(url, lua, duration_s=1.0, **kw)  # warm-up
        writer = None
        stats = {"changes": 0}
        if phase == "map-live":
            writer = asyncio.create_task(live_writer(stack, concert["id"], writer_seats, stats))
        meter = stack.meter()
        async with meter:
            res = await run_wrk(url, lua, duration_s=args.duration, **kw)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        results.rows.append(
            {
                "phase": phase,
                "reads_per_s": round(res.ok / res.duration_s, 1),
                "latency_ms": res.latency_ms,
                "bytes_per_read": round(res.bytes / max(res.requests, 1)),
                "non2xx": res.non2xx,
                "writer_changes_per_s": round(stats["changes"] / res.duration_s, 1),
                "window": meter.window,
            }
        )
        print(
            f"    {res.ok / res.duration_s:,.0f} reads/s, p50 {res.latency_ms['p50']} ms",
            flush=True,
        )


async def live_writer(
    stack: Stack, concert_id: str, seats: list[str], stats: dict[str, int]
) -> None:
    """Hold a seat, release it, next seat: two new versions per loop."""
    token = stack.tokens(1, prefix="map-writer")[0]
    port = stack.service.port
    conn = await connect(port)
    n = 0
    while True:
        body = json.dumps({"seat_ids": [seats[n % len(seats)]]}).encode()
        n += 1
        status, reply, _ = await conn.exchange(
            http_request("POST", f"{API}/concerts/{concert_id}/holds", token, body, port)
        )
        if status != 201:
            await asyncio.sleep(0.01)
            continue
        stats["changes"] += 1
        hold_id = json.loads(reply)["id"]
        status, _, _ = await conn.exchange(
            http_request("DELETE", f"{API}/holds/{hold_id}", token, None, port)
        )
        stats["changes"] += status == 204


def _first_at_or_after(seen: dict[int, float], versions: list[int]) -> dict[int, float]:
    """version -> when the listener got the first event whose version is at least it."""
    got = sorted(seen.items())
    out: dict[int, float] = {}
    i = 0
    for version in versions:
        while i < len(got) and got[i][0] < version:
            i += 1
        if i == len(got):
            break
        out[version] = got[i][1]
    return out


async def fan_out(
    args: argparse.Namespace, stack: Stack, results: Results, concert: dict[str, Any]
) -> None:
    loop = asyncio.get_running_loop()
    port = stack.service.port
    request = http_request("GET", f"{API}/concerts/{concert['id']}/seats/stream", port=port)
    rss_before = stack.meter_rss()
    listeners: list[Listener] = []
    print(f"[connect] {args.listeners:,} SSE listeners", flush=True)
    t0 = time.perf_counter()
    meter = stack.meter()
    async with meter:
        for start in range(0, args.listeners, 250):
            batch = []
            for _ in range(start, min(start + 250, args.listeners)):
                listener = Listener(request, {})
                batch.append(loop.create_connection(lambda x=listener: x, "127.0.0.1", port))
                listeners.append(listener)
            await asyncio.gather(*batch)
            await asyncio.gather(*(x.snapshot for x in listeners[start : start + 250]))
    connect_s = time.perf_counter() - t0
    rss_after = stack.meter_rss()
    results.rows.append(
        {
            "phase": "connect",
            "listeners": len(listeners),
            "seconds": round(connect_s, 2),
            "server_rss_mb_before": rss_before,
            "server_rss_mb_after": rss_after,
            "rss_kb_per_listener": round((rss_after - rss_before) * 1024 / len(listeners), 1),
            "window": meter.window,
        }
    )
    print(
        f"    connected in {connect_s:.1f} s, server RSS {rss_before} -> {rss_after} MB", flush=True
    )

    print("[idle] 10 s with every listener connected", flush=True)
    meter = stack.meter()
    async with meter:
        await asyncio.sleep(10)
    results.rows.append({"phase": "idle", "window": meter.window, "listeners": len(listeners)})

    tokens = stack.tokens(args.changes, prefix="fanout-writer")  # one seat each: no cap
    conn = await connect(port)
    seats = seat_ids_of(concert)[: args.changes]
    sends: list[float] = []
    versions: list[int] = []
    print(f"[fan-out] {args.changes} changes, one every {args.interval:g} s", flush=True)
    meter = stack.meter()
    async with meter:
        base = await current_version(conn, port, concert["id"])
        for seat, token in zip(seats, tokens, strict=True):
            body = json.dumps({"seat_ids": [seat]}).encode()
            sent = time.perf_counter()
            status, _, _ = await conn.exchange(
                http_request("POST", f"{API}/concerts/{concert['id']}/holds", token, body, port)
            )
            if status == 201:
                sends.append(sent)
            await asyncio.sleep(args.interval)
        await asyncio.sleep(2.0)  # the last deliveries
        last = await current_version(conn, port, concert["id"])
    conn.close()
    versions = list(range(base + 1, last + 1))
    per_change_last: list[float] = []
    per_change_median: list[float] = []
    all_deliveries: list[float] = []
    missing = 0
    # A change reaches a listener with the first event at or past its version: the server
    # coalesces a concert's changes (SSE_COALESCE_SECONDS), so one event may carry several.
    reached = [_first_at_or_after(x.seen, versions) for x in listeners]
    for version, sent in zip(versions, sends, strict=False):
        arrivals = sorted(r[version] - sent for r in reached if version in r)
        missing += len(listeners) - len(arrivals)
        if arrivals:
            per_change_last.append(arrivals[-1])
            per_change_median.append(arrivals[len(arrivals) // 2])
            all_deliveries += arrivals
    results.rows.append(
        {
            "phase": "fan-out",
            "listeners": len(listeners),
            "changes": len(sends),
            "versions": len(versions),
            "deliveries": len(all_deliveries),
            "events_received": sum(len(x.seen) for x in listeners),
            "missing_deliveries": missing,
            "closed_listeners": sum(x.closed for x in listeners),
            "to_last_listener_ms": latency_summary(per_change_last),
            "to_median_listener_ms": latency_summary(per_change_median),
            "all_deliveries_ms": latency_summary(all_deliveries),
            "server_rss_mb": stack.meter_rss(),
            "window": meter.window,
        }
    )
    for x in listeners:
        if x.transport is not None:
            x.transport.close()


async def current_version(conn: Any, port: int, concert_id: str) -> int:
    status, body, _ = await conn.exchange(
        http_request("GET", f"{API}/concerts/{concert_id}/seats", port=port)
    )
    match = re.search(rb'"version":(\d+)', body[:256])
    if status != 200 or match is None:
        raise RuntimeError(f"GET /seats answered {status}: {body[:200]!r}")
    return int(match.group(1))


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    results.setup["server_ready_s"] = round(await stack.start(), 2)
    concert = await stack.create_concert(args.seats)
    if "map-static" in args.phases or "map-live" in args.phases:
        await map_phases(args, stack, results, concert)
    if "fan-out" in args.phases:
        await fan_out(args, stack, results, concert)
    await stack.stop()


def print_table(results: Results) -> None:
    s = results.settings
    print(
        f"Load: map reads by wrk -t1 -c{s['connections']}; {s['listeners']:,} SSE listeners in "
        "one Python process"
    )
    print()
    rows = {r["phase"]: r for r in results.rows}
    header = (
        f"{'phase':<12} {'reads/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'KB':>4} {'writes/s':>8} "
        f"{WINDOW_HEADER}"
    )
    if "map-static" in rows or "map-live" in rows:
        print_header(header)
        for key in ("map-static", "map-live"):
            if key in rows:
                r = rows[key]
                print(
                    f"{key:<12} {fmt(r['reads_per_s']):>8} {fmt(r['latency_ms']['p50'], 1):>7} "
                    f"{fmt(r['latency_ms']['p99'], 1):>7} {r['bytes_per_read'] // 1024:>4} "
                    f"{fmt(r['writer_changes_per_s']):>8} {window_columns(r['window'])}"
                )
        print()
    if "fan-out" in rows:
        c, i, f = rows["connect"], rows["idle"], rows["fan-out"]
        print(
            f"SSE: {c['listeners']:,} listeners connected in {c['seconds']:.1f} s; server RSS "
            f"{c['server_rss_mb_before']} -> {c['server_rss_mb_after']} MB "
            f"({c['rss_kb_per_listener']} KB per listener)"
        )
        header = (
            f"{'phase':<12} {'to last p50':>11} {'p99':>7} {'max':>7} {'median p50':>10} "
            f"{'p99':>7} {WINDOW_HEADER}"
        )
        print_header(header)
        for key, r in (("connect", c), ("idle", i)):
            print(
                f"{key:<12} {'':>11} {'':>7} {'':>7} {'':>10} {'':>7} {window_columns(r['window'])}"
            )
        last, med = f["to_last_listener_ms"], f["to_median_listener_ms"]
        print(
            f"{'fan-out':<12} {fmt(last.get('p50'), 1):>11} {fmt(last.get('p99'), 1):>7} "
            f"{fmt(last.get('max'), 1):>7} {fmt(med.get('p50'), 1):>10} "
            f"{fmt(med.get('p99'), 1):>7} {window_columns(f['window'])}"
        )
        print()
        print(
            f"  {f['changes']} changes x {f['listeners']:,} listeners: {f['deliveries']:,} "
            f"deliveries in {f['events_received']:,} events, {f['missing_deliveries']} missing, "
            f"{f['closed_listeners']} listeners "
            f"closed; times in ms from the hold request's send; server RSS {f['server_rss_mb']} MB"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    settings = settings_of(
        args, "seats", "connections", "listeners", "changes", "interval_s=interval",
        "duration_s=duration",
    )  # fmt: skip
    banner = (
        f"Encore seat map and fan-out: {args.seats:,} seats, {args.workers} worker(s), "
        f"{args.listeners:,} listeners"
    )
    return bench_main("fanout", args, banner, settings, run, Results.note_busy_phases, print_table)


if __name__ == "__main__":
    sys.exit(main())

"""A burst: 10,000 distinct buyers at once for 100 seats, repeated.

    .venv/bin/python bench/burst.py                       # 5 rounds of 10,000 buyers, 100 seats
    .venv/bin/python bench/burst.py --buyers 20000 --rounds 3

Each round opens a fresh 100-seat concert (one row), opens `--connections` keep-alive
connections, then writes every buyer's hold request at once: each connection carries its share
of the buyers as pipelined HTTP/1.1 requests, so all of them are on the wire within a few
milliseconds and the server sees the whole crowd at t=0. Half of the buyers ask for the best
seat (`quantity: 1`), half for one seat of their choice (a random one of the 100). Every buyer
has their own access token. Expected per round: exactly 100 answers 201, every other one 409
(or 429 by design), all answered ("drained") within 10 s. The held seats are checked: 100
distinct seats, and the concert's seat map says 100 held.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from collections import Counter
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
    seat_ids_of,
    settings_of,
    window_columns,
)

TARGET_DRAIN_S = 10.0
_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--buyers", type=int, default=10_000, help="buyers per round")
    parser.add_argument("--seats", type=int, default=100, help="seats per round's concert")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--connections", type=int, default=1000, help="connections sharing the buyers"
    )
    return parser.parse_args(argv)


async def one_connection(
    port: int, requests: list[bytes], t0: asyncio.Future[float], out: list[tuple[float, int, bytes]]
) -> None:
    conn = await connect(port)
    try:
        await t0  # everyone writes at once
        conn.writer.write(b"".join(requests))
        for _ in requests:
            status, body, _keep = await conn.read_response()
            out.append((time.perf_counter(), status, body))
    finally:
        conn.close()


async def round_of(stack: Stack, args: argparse.Namespace, number: int) -> dict[str, Any]:
    concert = await stack.create_concert(args.seats, seats_per_row=args.seats)
    seat_ids = seat_ids_of(concert)
    tokens = stack.tokens(args.buyers, prefix=f"burst-{number}")
    port = stack.service.port
    path = f"{API}/concerts/{concert['id']}/holds"
    requests = []
    for n, token in enumerate(tokens):
        if n % 2 == 0:
            body: dict[str, Any] = {"quantity": 1}
        else:
            body = {"seat_ids": [random.choice(seat_ids)]}
        requests.append(http_request("POST", path, token, json.dumps(body).encode(), port))
    random.shuffle(requests)
    shares = [requests[i :: args.connections] for i in range(args.connections)]
    out: list[tuple[float, int, bytes]] = []
    loop = asyncio.get_running_loop()
    go: asyncio.Future[float] = loop.create_future()
    tasks = [asyncio.create_task(one_connection(port, share, go, out)) for share in shares if share]
    await asyncio.sleep(1.0)  # connections open
    meter = stack.meter()
    async with meter:
        start = time.perf_counter()
        go.set_result(start)
        done, pending = await asyncio.wait(tasks, timeout=60)
        for task in pending:
            task.cancel()
    errors = Counter(type(t.exception()).__name__ for t in done if t.exception() is not None)
    statuses = Counter(status for _, status, _ in out)
    held: list[str] = []
    for _, status, body in out:
        if status == 201:
            held += json.loads(body)["seat_ids"]
    async with stack.http() as client:
        seat_map = (await client.get(f"{API}/concerts/{concert['id']}/seats")).json()
    drained = max((t for t, _, _ in out), default=start) - start
    other = sum(n for s, n in statuses.items() if s not in (201, 409, 429))
    answered = len(out)
    return {
        "round": number,
        "buyers": args.buyers,
        "answered": answered,
        "statuses": {str(k): v for k, v in statuses.most_common()},
        "holds": statuses.get(201, 0),
        "distinct_seats_held": len(set(held)),
        "seat_map_held": seat_map["counts"]["held"],
        "seat_map_available": seat_map["counts"]["available"],
        "other_answers": other,
        "transport_errors": dict(errors),
        "drain_s": round(drained, 3),
        "answers_per_s": round(answered / max(drained, 1e-9), 1),
        "latency_ms": latency_summary([t - start for t, _, _ in out]),
        "window": meter.window,
        "ok": statuses.get(201, 0) == args.seats
        and len(set(held)) == args.seats
        and seat_map["counts"]["held"] == args.seats
        and other == 0
        and not errors
        and answered == args.buyers
        and drained <= TARGET_DRAIN_S,
    }


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    results.setup["server_ready_s"] = round(await stack.start(), 2)
    for number in range(1, args.rounds + 1):
        print(
            f"[round {number}/{args.rounds}] {args.buyers:,} buyers, {args.seats} seats", flush=True
        )
        row = await round_of(stack, args, number)
        print(
            f"    {row['statuses']} drained in {row['drain_s']:.2f} s, "
            f"{'ok' if row['ok'] else 'NOT ok'}",
            flush=True,
        )
        results.rows.append(row)
    await stack.stop()
    # The rate limiter fails open when its checks are slower than RATE_LIMIT_TIMEOUT_SECONDS:
    # whether a burst made it do so is part of the result (limits unenforced for 5 s each).
    log = stack.service.log_path.read_text(errors="replace")
    results.derived["limiter_fail_open"] = log.count("rate limiter unavailable")
    if results.derived["limiter_fail_open"]:
        results.notes.append(
            f"the rate limiter failed open {results.derived['limiter_fail_open']} time(s) "
            "(checks slower than RATE_LIMIT_TIMEOUT_SECONDS; limits unenforced for 5 s each)"
        )


def print_table(results: Results) -> None:
    s = results.settings
    print(
        f"Load: {s['buyers']:,} buyers per round for {s['seats']} seats, pipelined over "
        f"{s['connections']} connections; Python generator (uvloop)"
    )
    print()
    header = (
        f"{'round':>5} {'201':>5} {'409':>6} {'429':>5} {'other':>5} {'seats':>5} {'map':>5} "
        f"{'drain s':>7} {'ans/s':>7} {'p50 ms':>7} {'p99 ms':>7} {WINDOW_HEADER}  verdict"
    )
    print_header(header)
    for r in results.rows:
        st = r["statuses"]
        print(
            f"{r['round']:>5} {st.get('201', 0):>5} {st.get('409', 0):>6} {st.get('429', 0):>5} "
            f"{r['other_answers'] + sum(r['transport_errors'].values()):>5} "
            f"{r['distinct_seats_held']:>5} {r['seat_map_held']:>5} {r['drain_s']:>7.2f} "
            f"{fmt(r['answers_per_s']):>7} {fmt(r['latency_ms'].get('p50'), 0):>7} "
            f"{fmt(r['latency_ms'].get('p99'), 0):>7} {window_columns(r['window'])}  "
            f"{'ok' if r['ok'] else 'NOT ok'}"
        )
    print()
    print(
        "  201 = holds, seats = distinct seats in the 201 answers, map = held seats the seat map "
        f"shows; drain = first write to last answer (target <= {TARGET_DRAIN_S:g} s)"
    )
    verdict = "met" if all(r["ok"] for r in results.rows) else "NOT met"
    print(f"  target (exactly {s['seats']} holds, the rest 409/429, drained in time): {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_of(args, "buyers", "seats", "rounds", "connections")
    banner = (
        f"Encore burst: {args.rounds} rounds of {args.buyers:,} buyers for {args.seats} "
        f"seats, {args.workers} worker(s)"
    )
    return bench_main("burst", args, banner, settings, run, derive, print_table)


def derive(results: Results) -> None:
    results.derived["target_met"] = all(r["ok"] for r in results.rows)
    results.note_busy_neighbours(lambda r: f"round {r['round']}")


if __name__ == "__main__":
    sys.exit(main())

"""A stadium on-sale end to end: 50,000 seats sold, hold -> checkout -> signed webhook.

    .venv/bin/python bench/stadium.py                   # PostgreSQL, 2 workers, 50,000 seats
    .venv/bin/python bench/stadium.py --concurrency 128 --min-seats 1 --max-seats 4

Every buyer (a distinct access token) takes one group of 2-4 adjacent seats of a row, picked
from the map (explicit `seat_ids`), and walks the whole purchase: POST /holds, POST /checkout
(order + simulated payment intent), then the bench plays Stripe and delivers a signed
`payment_intent.succeeded` event to POST /webhooks/stripe (HMAC with the server's
STRIPE_WEBHOOK_SECRET), which confirms the order, claims the seats in the store and issues the
tickets. A webhook answered with anything but 200 is delivered again (as Stripe retries), up to
5 times. `--concurrency` buyers are in flight at any time (closed loop).

At the end the store itself is checked (psql): seats sold once each and only to confirmed
orders (oversold = sales beyond one per seat, or sales of unconfirmed orders), every delivered
payment has exactly one confirmed order (lost = a delivered payment without one), every
confirmed order has one ticket per seat. Target (issue #9): <= 60 s, 0 oversold, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness import print_header, progress
from holds import rows_of
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
    psql_query,
    settings_of,
    window_columns,
)

from app.payments.signature import sign

TARGET_S = 60.0
CAP = 8  # max_tickets_per_user of the stadium concert
WEBHOOK_ATTEMPTS = 5
STEPS = ("hold", "checkout", "webhook")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__, store="postgres")
    parser.add_argument("--seats", type=int, default=50_000, help="seats of the stadium")
    parser.add_argument("--concurrency", type=int, default=96, help="buyers in flight")
    parser.add_argument("--min-seats", type=int, default=2, help="seats per buyer, at least")
    parser.add_argument("--max-seats", type=int, default=4, help="seats per buyer, at most")
    parser.add_argument(
        "--phased",
        action="store_true",
        help="every buyer holds, then every buyer checks out, then every payment is delivered: "
        "CPU per step (not the real sale's timing)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.min_seats <= args.max_seats <= CAP or args.max_seats < 2 * args.min_seats - 1:
        parser.error(f"need 1 <= --min-seats <= --max-seats <= {CAP} and max >= 2 x min - 1")
    return args


def seat_groups(rows: list[list[str]], low: int, high: int) -> list[list[str]]:
    """Each row cut into runs of `low`..`high` adjacent seats, shuffled: buyers arrive in
    random order and pick different parts of the map. (A row shorter than `low` is one group.)"""
    groups: list[list[str]] = []
    for row in rows:
        i = 0
        while i < len(row):
            rest = len(row) - i
            size = rest if rest <= high else random.randint(low, high)
            if 0 < rest - size < low:
                size = rest - low  # leave exactly `low` for the last group
            groups.append(row[i : i + size])
            i += size
    random.shuffle(groups)
    return groups


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    outcomes: Counter[str] = field(default_factory=Counter)
    delivered: dict[str, int] = field(default_factory=dict)  # intent -> seats
    sold_seats: int = 0
    done_times: list[float] = field(default_factory=list)


@dataclass
class Purchase:
    """One buyer's way through the sale."""

    token: str
    seats: list[str]
    hold_id: str = ""
    intent: str = ""
    payload: bytes = b""
    failed: bool = False


class Buyer:
    def __init__(self, stack: Stack, concert_id: str) -> None:
        self.port = stack.service.port
        self.secret = stack.webhook_secret
        self.hold_path = f"{API}/concerts/{concert_id}/holds"

    async def hold(self, conn: Any, p: Purchase, tally: Tally) -> bool:
        t = time.perf_counter()
        body = json.dumps({"seat_ids": p.seats}).encode()
        status, reply, keep = await conn.exchange(
            http_request("POST", self.hold_path, p.token, body, self.port)
        )
        tally.latencies["hold"].append(time.perf_counter() - t)
        if status != 201:
            tally.outcomes[f"hold_{status}"] += 1
            p.failed = True
        else:
            p.hold_id = json.loads(reply)["id"]
        return bool(keep)

    async def checkout(self, conn: Any, p: Purchase, tally: Tally) -> bool:
        t = time.perf_counter()
        body = json.dumps({"hold_id": p.hold_id}).encode()
        status, reply, keep = await conn.exchange(
            http_request("POST", f"{API}/checkout", p.token, body, self.port)
        )
        tally.latencies["checkout"].append(time.perf_counter() - t)
        if status != 201:
            tally.outcomes[f"checkout_{status}"] += 1
            p.failed = True
            return bool(keep)
        result = json.loads(reply)
        p.intent = result["payment"]["payment_intent_id"]
        event = {
            "id": f"evt_bench_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": p.intent,
                    "object": "payment_intent",
                    "amount": result["order"]["amount_cents"],
                    "currency": result["order"]["currency"].lower(),
                    "status": "succeeded",
                    "metadata": {"order_id": result["order"]["id"]},
                }
            },
        }
        p.payload = json.dumps(event).encode()
        return bool(keep)

    async def pay(self, conn: Any, p: Purchase, tally: Tally) -> bool:
        """Stripe's delivery of the payment event, retried as Stripe does on a non-200."""
        keep = True
        for attempt in range(WEBHOOK_ATTEMPTS):
            t = time.perf_counter()
            signature = sign(p.payload, self.secret)
            request = (
                f"POST {API}/webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nStripe-Signature: {signature}\r\n"
                f"Content-Length: {len(p.payload)}\r\n\r\n"
            ).encode() + p.payload
            status, _, keep = await conn.exchange(request)
            tally.latencies["webhook"].append(time.perf_counter() - t)
            if status == 200:
                tally.delivered[p.intent] = len(p.seats)
                tally.outcomes["sold"] += 1
                tally.sold_seats += len(p.seats)
                tally.done_times.append(time.perf_counter())
                return bool(keep)
            tally.outcomes[f"webhook_{status}_attempt_{attempt + 1}"] += 1
            if not keep:
                return False
            await asyncio.sleep(0.2 * (attempt + 1))
        tally.outcomes["webhook_gave_up"] += 1
        p.failed = True
        return bool(keep)


async def sell(
    stack: Stack,
    concert_id: str,
    purchases: list[Purchase],
    concurrency: int,
    steps: tuple[str, ...] = STEPS,
    tally: Tally | None = None,
) -> tuple[Tally, float, float]:
    """`concurrency` buyers at a time walk `steps` (all three: the real sale; one: a phase)."""
    tally = tally or Tally()
    buyer = Buyer(stack, concert_id)
    actions = {"hold": buyer.hold, "checkout": buyer.checkout, "webhook": buyer.pay}
    queue = list(reversed(purchases))
    port = stack.service.port

    async def worker() -> None:
        conn = await connect(port)
        while queue:
            p = queue.pop()
            for step in steps:
                if p.failed:
                    break
                try:
                    keep = await actions[step](conn, p, tally)
                except Exception as exc:  # a transport error ends this buyer, not the run
                    tally.outcomes[f"{step}_error_{type(exc).__name__}"] += 1
                    p.failed, keep = True, False
                if not keep:
                    conn.close()
                    conn = await connect(port)
        conn.close()

    def line(elapsed: float) -> str:
        return (
            f"    {elapsed:5.0f} s: {tally.sold_seats:>7,} seats sold "
            f"({tally.sold_seats / elapsed:,.0f}/s), {dict(tally.outcomes.most_common(4))}"
        )

    start = time.perf_counter()
    async with progress(5, line, started=start):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally, start, time.perf_counter()


def verify(stack: Stack, concert_id: str, tally: Tally) -> dict[str, Any]:
    """What the store says, read with psql after the run."""
    assert stack.pg_dsn is not None
    dsn = stack.pg_dsn
    q = concert_id.replace("'", "''")
    sales, distinct_seats = psql_query(
        dsn, f"SELECT count(*), count(DISTINCT seat_id) FROM seat_sales WHERE concert_id = '{q}'"
    )[0]
    unconfirmed_sales = psql_query(
        dsn,
        "SELECT count(*) FROM seat_sales s LEFT JOIN orders o ON o.id = s.order_id "
        f"WHERE s.concert_id = '{q}' AND (o.id IS NULL OR o.status <> 'confirmed')",
    )[0][0]
    statuses = {
        row[0]: int(row[1])
        for row in psql_query(
            dsn, f"SELECT status, count(*) FROM orders WHERE concert_id = '{q}' GROUP BY status"
        )
    }
    confirmed = psql_query(
        dsn,
        "SELECT payment_intent_id, count(*), sum(jsonb_array_length(seat_ids::jsonb)) "
        f"FROM orders WHERE concert_id = '{q}' AND status = 'confirmed' GROUP BY payment_intent_id",
    )
    by_intent = {row[0]: (int(row[1]), int(row[2])) for row in confirmed}
    lost = [i for i in tally.delivered if i not in by_intent]
    doubled = [i for i, (n, _) in by_intent.items() if n > 1]
    seats_confirmed = sum(seats for _, seats in by_intent.values())
    tickets, ticket_seats = psql_query(
        dsn, f"SELECT count(*), count(DISTINCT seat_id) FROM tickets WHERE concert_id = '{q}'"
    )[0]
    short_orders = psql_query(
        dsn,
        "SELECT count(*) FROM orders o WHERE o.concert_id = '" + q + "' AND o.status = "
        "'confirmed' AND (SELECT count(*) FROM tickets t WHERE t.order_id = o.id) <> "
        "jsonb_array_length(o.seat_ids::jsonb)",
    )[0][0]
    return {
        "seat_sales": int(sales),
        "distinct_seats_sold": int(distinct_seats),
        "oversold": int(sales) - int(distinct_seats) + int(unconfirmed_sales),
        "sales_of_unconfirmed_orders": int(unconfirmed_sales),
        "orders_by_status": statuses,
        "payments_delivered": len(tally.delivered),
        "lost_payments": len(lost),
        "payments_with_several_confirmed_orders": len(doubled),
        "seats_in_confirmed_orders": seats_confirmed,
        "tickets": int(tickets),
        "distinct_ticket_seats": int(ticket_seats),
        "confirmed_orders_without_all_tickets": int(short_orders),
    }


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    results.setup["server_ready_s"] = round(await stack.start(), 2)
    t0 = time.perf_counter()
    concert = await stack.create_concert(args.seats, cap=CAP)
    results.setup["venue_create_and_warm_s"] = round(time.perf_counter() - t0, 2)
    groups = seat_groups(rows_of(concert), args.min_seats, args.max_seats)
    t0 = time.perf_counter()
    tokens = stack.tokens(len(groups), prefix="fan")
    results.setup["buyers"] = len(groups)
    results.setup["tokens_mint_s"] = round(time.perf_counter() - t0, 2)
    sizes = Counter(len(g) for g in groups)
    results.setup["seats_per_buyer"] = dict(sorted(sizes.items()))
    print(
        f"[on-sale] {args.seats:,} seats, {len(groups):,} buyers "
        f"({dict(sorted(sizes.items()))} seats each), {args.concurrency} in flight",
        flush=True,
    )
    purchases = [Purchase(t, g) for t, g in zip(tokens, groups, strict=True)]
    meter = stack.meter()
    if args.phased:
        # The same sale one step at a time, each step measured on its own (CPU per step).
        tally = Tally()
        start = time.perf_counter()
        for step in STEPS:
            print(f"  [{step}] all buyers", flush=True)
            step_meter = stack.meter()
            with stack.profile(step):
                async with step_meter:
                    _, t0, t1 = await sell(
                        stack, concert["id"], purchases, args.concurrency, (step,), tally
                    )
            w = step_meter.window
            calls = len(tally.latencies[step])
            results.rows.append(
                {
                    "phase": f"step {step}",
                    "wall_s": round(t1 - t0, 2),
                    "calls": calls,
                    "per_s": round(calls / (t1 - t0), 1),
                    "window": w,
                    "cpu_us_per_call": w.cpu_us_per(calls) if w else None,
                }
            )
        end = time.perf_counter()
    else:
        with stack.profile("stadium"):
            async with meter:
                tally, start, end = await sell(stack, concert["id"], purchases, args.concurrency)
    wall = end - start
    check = verify(stack, concert["id"], tally)
    done = sorted(tally.done_times)
    half = done[len(done) // 2] - start if done else None
    results.rows.append(
        {
            "phase": "on-sale",
            "wall_s": round(wall, 2),
            "seats_sold": tally.sold_seats,
            "sales": tally.outcomes.get("sold", 0),
            "sales_per_s": round(tally.outcomes.get("sold", 0) / wall, 1),
            "seats_per_s": round(tally.sold_seats / wall, 1),
            "half_sold_at_s": None if half is None else round(half, 2),
            "outcomes": dict(tally.outcomes.most_common()),
            "latency_ms": {s: latency_summary(v) for s, v in tally.latencies.items()},
            "calls": {s: len(v) for s, v in tally.latencies.items()},
            "window": None if args.phased else meter.window,
            "store": check,
        }
    )
    await stack.stop()


def derive(results: Results) -> None:
    row = next(r for r in results.rows if r["phase"] == "on-sale")
    check = row["store"]
    results.derived = {
        "total_s": row["wall_s"],
        "oversold": check["oversold"],
        "lost": check["lost_payments"],
        "all_seats_sold": row["seats_sold"] == results.settings["seats"]
        and check["distinct_seats_sold"] == results.settings["seats"],
        "target_met": row["wall_s"] <= TARGET_S
        and check["oversold"] == 0
        and check["lost_payments"] == 0
        and check["payments_with_several_confirmed_orders"] == 0
        and check["confirmed_orders_without_all_tickets"] == 0,
    }
    w = row["window"]
    if w is not None and (w.other_pct or 0) > 25:
        results.notes.append(
            f"other processes used {w.other_pct:.0f}% of a core ({', '.join(w.others_top)})"
        )


def print_table(results: Results) -> None:
    s = results.settings
    row = next(r for r in results.rows if r["phase"] == "on-sale")
    print(
        f"Load: {results.setup['buyers']:,} buyers, {results.setup['seats_per_buyer']} seats "
        f"each, {s['concurrency']} in flight (closed loop); Python generator (uvloop)"
    )
    print()
    header = f"{'step':<10} {'calls':>7} {'p50 ms':>8} {'p90':>8} {'p99':>8} {'max':>8}"
    print_header(header)
    for step in STEPS:
        lat = row["latency_ms"][step]
        print(
            f"{step:<10} {row['calls'][step]:>7,} "
            f"{fmt(lat.get('p50'), 1):>8} {fmt(lat.get('p90'), 1):>8} {fmt(lat.get('p99'), 1):>8} "
            f"{fmt(lat.get('max'), 0):>8}"
        )
    print()
    print(
        f"{'total s':>8} {'sales/s':>8} {'seats/s':>8} {'sold':>7} {'oversold':>8} {'lost':>5} "
        f"{'tickets':>8} {WINDOW_HEADER}"
    )
    check = row["store"]
    print(
        f"{row['wall_s']:>8.1f} {fmt(row['sales_per_s']):>8} {fmt(row['seats_per_s']):>8} "
        f"{check['distinct_seats_sold']:>7,} {check['oversold']:>8} {check['lost_payments']:>5} "
        f"{check['tickets']:>8,} {window_columns(row['window'])}"
    )
    steps = [r for r in results.rows if r["phase"].startswith("step ")]
    if steps:
        print()
        print(f"{'phased':<14} {'calls/s':>8} {'us/call: server':>15} {'redis':>6} {'pg':>5}  "
              f"{WINDOW_HEADER}")  # fmt: skip
        for r in steps:
            us = r["cpu_us_per_call"] or {}
            print(
                f"{r['phase']:<14} {fmt(r['per_s']):>8} {fmt(us.get('server')):>15} "
                f"{fmt(us.get('redis')):>6} {fmt(us.get('postgres')):>5}  "
                f"{window_columns(r['window'])}"
            )
    print()
    print(f"  outcomes: {row['outcomes']}")
    print(
        f"  store: orders {check['orders_by_status']}, payments delivered "
        f"{check['payments_delivered']:,}, with several confirmed orders "
        f"{check['payments_with_several_confirmed_orders']}, confirmed orders missing tickets "
        f"{check['confirmed_orders_without_all_tickets']}, sales of unconfirmed orders "
        f"{check['sales_of_unconfirmed_orders']}"
    )
    d = results.derived
    verdict = "met" if d["target_met"] else "NOT met"
    print(
        f"  target (<= {TARGET_S:g} s, 0 oversold, 0 lost): {verdict}; every seat sold: "
        f"{d['all_seats_sold']}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = {
        **settings_of(args, "seats", "concurrency"),
        "seats_per_buyer": [args.min_seats, args.max_seats],
    }
    banner = (
        f"Encore stadium on-sale: {args.seats:,} seats, {args.workers} worker(s), store "
        f"{args.store}, {args.concurrency} buyers in flight"
    )
    return bench_main("stadium", args, banner, settings, run, derive, print_table)


if __name__ == "__main__":
    sys.exit(main())

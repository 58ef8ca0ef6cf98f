"""Signups and logins per second, and a storm of each: an on-sale starts with a login storm.

    .venv/bin/python bench/auth.py                              # about 2 minutes
    .venv/bin/python bench/auth.py --server-root /tmp/before    # the same on other code

Every signup hashes a password and every login verifies one (argon2id, off the event loop):
that hash is what these routes cost. The phases, one after the other on one server:

1. signups: a closed loop of `--concurrency` (8) clients for `--duration` (20) s, each request
   a new account (`POST /auth/signup`).
2. logins: the same loop logging in the accounts of phase 1 in turn (`POST /auth/login`).
3. signup storm: `--storm` (300) new accounts sent at once, each on its own connection. Every
   one that did not get 201 is then sent again, as a client retries (after its Retry-After,
   up to 10 times): the final answer should be 201. A 409 EmailTaken on the retry means the
   first answer refused the signup although the account had been written (issue 16, item 12).
4. login storm: `--storm` logins of existing accounts at once.

The argon2 parameters of the hashes the server wrote are read from its SQLite file and
printed. The server runs like the other on-sale benches (bench/kit.py: `python -m app.serve`,
2 workers, a private Redis, SQLite, rate limits on but out of reach). Nothing passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from harness import closed_loop, print_header
from kit import (
    API,
    WINDOW_HEADER,
    Results,
    Stack,
    Window,
    bench_main,
    bench_parser,
    fmt,
    latency_summary,
    settings_of,
    window_columns,
)
from rawhttp import RawHttp

PASSWORD = "bench-password-1"
RETRIES = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the closed loops")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per closed loop")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before")
    parser.add_argument("--storm", type=int, default=300, help="requests sent at once")
    parser.add_argument(
        "--phases",
        default="signups,logins,signup-storm,login-storm",
        help="comma-separated subset of signups,logins,signup-storm,login-storm",
    )
    return parser.parse_args(argv)


class Accounts:
    """The bench's accounts: unique emails, one password."""

    def __init__(self) -> None:
        self._run = secrets.token_hex(4)
        self._next = 0
        self.created: list[str] = []

    def new_email(self) -> str:
        self._next += 1
        return f"bench-{self._run}-{self._next}@example.com"


def _body(email: str) -> bytes:
    return json.dumps({"email": email, "password": PASSWORD, "name": "Bench"}).encode()


def _login_body(email: str) -> bytes:
    return json.dumps({"email": email, "password": PASSWORD}).encode()


async def loop_phase(
    stack: Stack,
    args: argparse.Namespace,
    name: str,
    op: Callable[[], Awaitable[tuple[str, int]]],
    ok: str,
) -> dict[str, Any]:
    if args.warmup > 0:
        await closed_loop(
            name,
            op,
            ok_labels=frozenset({ok}),
            concurrency=args.concurrency,
            duration_s=args.warmup,
            quiet=True,
        )
    meter = stack.meter()
    async with meter:
        result = await closed_loop(
            name,
            op,
            ok_labels=frozenset({ok}),
            concurrency=args.concurrency,
            duration_s=args.duration,
            progress_every_s=5.0,
        )
    window = meter.window
    return {
        "phase": name,
        "calls": result.calls,
        "ok": result.ok,
        "ok_per_s": round(result.ok / result.duration_s, 1),
        "req_per_s": round(result.calls / result.duration_s, 1),
        "statuses": dict(result.outcomes.most_common()),
        "latency_ms": result.latency_ms(),
        "window": window,
        "cpu_us_per_call": window.cpu_us_per(result.calls) if window else None,
    }


async def _send_once(port: int, path: str, body: bytes) -> tuple[int, bytes, float]:
    """One request on its own connection; (status, body, seconds)."""
    client = RawHttp("127.0.0.1", port, 1, timeout_seconds=300.0)
    started = time.perf_counter()
    try:
        status, payload = await client.request("POST", path, body)
    except Exception as exc:  # a transport error is a result
        return 0, type(exc).__name__.encode(), time.perf_counter() - started
    finally:
        await client.aclose()
    return status, payload, time.perf_counter() - started


def _retry_after(payload: bytes) -> float:
    try:
        return float(json.loads(payload).get("retry_after_seconds", 1))
    except (ValueError, AttributeError):
        return 1.0


async def storm_phase(
    stack: Stack, args: argparse.Namespace, name: str, path: str, bodies: list[bytes]
) -> dict[str, Any]:
    port = stack.service.port
    meter = stack.meter()
    async with meter:
        started = time.perf_counter()
        answers = await asyncio.gather(*(_send_once(port, path, b) for b in bodies))
        drained = time.perf_counter() - started
    first = Counter(status for status, _, _ in answers)
    row: dict[str, Any] = {
        "phase": name,
        "calls": len(bodies),
        "ok": first.get(201 if "signup" in name else 200, 0),
        "statuses": {str(k): v for k, v in first.most_common()},
        "drain_s": round(drained, 2),
        "answers_per_s": round(len(bodies) / max(drained, 1e-9), 1),
        "latency_ms": latency_summary([seconds for _, _, seconds in answers]),
        "window": meter.window,
    }
    if "signup" in name:
        row["retried"] = await _retry_refused(port, path, bodies, answers)
    return row


async def _retry_refused(
    port: int, path: str, bodies: list[bytes], answers: list[tuple[int, bytes, float]]
) -> dict[str, Any]:
    """Send every refused signup again until it is not 429/503: what a client does."""

    async def retry(body: bytes, payload: bytes) -> int:
        status = 0
        for _ in range(RETRIES):
            await asyncio.sleep(min(_retry_after(payload), 5.0))
            status, payload, _ = await _send_once(port, path, body)
            if status not in (0, 429, 503):
                break
        return status

    refused = [(b, p) for (status, p, _), b in zip(answers, bodies, strict=True) if status != 201]
    finals = await asyncio.gather(*(retry(b, p) for b, p in refused))
    counted = Counter(finals)
    return {
        "refused_first": len(refused),
        "final": {str(k): v for k, v in counted.most_common()},
        # The account existed although the first answer had refused the signup.
        "written_although_refused": counted.get(409, 0),
    }


def argon2_parameters(stack: Stack) -> str | None:
    """The parameters of the hashes the server wrote (`m=...,t=...,p=...`), SQLite only."""
    prefix = "sqlite+aiosqlite:///"
    if not stack.database_url.startswith(prefix):
        return None
    with sqlite3.connect(stack.database_url.removeprefix(prefix)) as db:
        rows = db.execute(
            "SELECT password_hash FROM users WHERE email LIKE 'bench-%' LIMIT 1"
        ).fetchall()
    if not rows:
        return None
    parts = str(rows[0][0]).split("$")  # $argon2id$v=19$m=...,t=...,p=...$salt$hash
    return f"{parts[1]} {parts[3]}" if len(parts) > 3 else None


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    results.setup["server_ready_s"] = round(await stack.start(), 2)
    phases = set(args.phases.split(","))
    accounts = Accounts()
    client = RawHttp("127.0.0.1", stack.service.port, args.concurrency, timeout_seconds=300.0)
    signup_path, login_path = f"{API}/auth/signup", f"{API}/auth/login"

    async def signup() -> tuple[str, int]:
        email = accounts.new_email()
        status, payload = await client.request("POST", signup_path, _body(email))
        if status == 201:
            accounts.created.append(email)
        return str(status), len(payload)

    logins = 0

    async def login() -> tuple[str, int]:
        nonlocal logins
        email = accounts.created[logins % len(accounts.created)]
        logins += 1
        status, payload = await client.request("POST", login_path, _login_body(email))
        return str(status), len(payload)

    try:
        if "signups" in phases or "logins" in phases:
            print(f"[signups] {args.concurrency} clients, {args.duration:g} s", flush=True)
            results.rows.append(await loop_phase(stack, args, "signups", signup, "201"))
        if "logins" in phases and accounts.created:
            print(f"[logins] {args.concurrency} clients, {args.duration:g} s", flush=True)
            results.rows.append(await loop_phase(stack, args, "logins", login, "200"))
    finally:
        await client.aclose()
    if "signup-storm" in phases:
        print(f"[signup storm] {args.storm} signups at once, then their retries", flush=True)
        emails = [accounts.new_email() for _ in range(args.storm)]
        row = await storm_phase(
            stack, args, "signup-storm", signup_path, [_body(e) for e in emails]
        )
        accounts.created += emails
        results.rows.append(row)
    if "login-storm" in phases and accounts.created:
        print(f"[login storm] {args.storm} logins at once", flush=True)
        chosen = [accounts.created[n % len(accounts.created)] for n in range(args.storm)]
        bodies = [_login_body(e) for e in chosen]
        results.rows.append(await storm_phase(stack, args, "login-storm", login_path, bodies))
    results.derived["argon2"] = argon2_parameters(stack)
    await stack.stop()


def print_table(results: Results) -> None:
    s = results.settings
    print(
        f"Load: closed loops of {s['concurrency']} clients for {s['duration']:g} s; storms of "
        f"{s['storm']} requests at once, one connection each; argon2 "
        f"{results.derived.get('argon2') or 'unknown'}"
    )
    print()
    header = (
        f"{'phase':<13} {'ok/s':>6} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'server us/call':>14} {WINDOW_HEADER}  statuses"
    )
    print_header(header)
    for r in results.rows:
        w: Window | None = r.get("window")
        per_call = w.cpu_us_per(r["calls"])["server"] if w is not None else None
        rate = r.get("ok_per_s", r.get("answers_per_s"))
        print(
            f"{r['phase']:<13} {fmt(rate, 1):>6} {fmt(r.get('req_per_s'), 1):>6} "
            f"{fmt(r['latency_ms'].get('p50'), 0):>7} {fmt(r['latency_ms'].get('p99'), 0):>7} "
            f"{fmt(per_call, 0):>14} {window_columns(w)}  {r['statuses']}"
        )
    print()
    for r in results.rows:
        if "drain_s" in r:
            print(f"  {r['phase']}: all {r['calls']} answered in {r['drain_s']:.1f} s")
        if "retried" in r:
            retried = r["retried"]
            print(
                f"  {r['phase']}: {retried['refused_first']} refused at first; after retrying "
                f"{retried['final']}; written although refused (409 on retry): "
                f"{retried['written_although_refused']}"
            )
    print("  storms: ok/s is answers/s (all of them, whatever their status)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_of(args, "concurrency", "duration", "warmup", "storm", "phases")
    banner = (
        f"Encore auth: signups and logins, {args.concurrency} clients, storms of {args.storm}, "
        f"{args.workers} worker(s)"
    )
    return bench_main("auth", args, banner, settings, run, Results.note_busy_phases, print_table)


if __name__ == "__main__":
    sys.exit(main())

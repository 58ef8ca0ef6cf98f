"""The virtual waiting room under load: 10,000 queued buyers polling while holds are served.

    .venv/bin/python bench/waiting_room.py              # about 2 minutes with the defaults
    .venv/bin/python bench/waiting_room.py --buyers 20000 --duration 60 --workers 2

It answers: what does polling cost the service (CPU per status call, share of a core, whether
the poll rate stays under QUEUE_POLL_BUDGET_PER_SECOND), and what does that traffic do to the
holds served at the same time (hold p99 with and without it). Phases, on one server:

  idle   nothing for 3 s: the CPU the server's background jobs use on their own
  A      holds alone: closed loop of POST /concerts/{id}/holds, one seat, distinct buyers
  B      the queue alone: --buyers buyers join (POST /queue, --join-concurrency at a time), then
         each polls GET /queue on its own timer, sleeping exactly the poll_after_seconds of the
         previous answer (an open loop, like a browser's setTimeout); measured for --duration
  C      A and B at once: the same holds while the buyers keep polling

Where the holds go, and why. They go to the concert whose queue is being polled, with the
X-Queue-Pass header, because that is what a queued on-sale serves: admitted buyers holding
seats of the concert everyone else is waiting for, every hold paying the pass check. Holds on a
second concert without a queue would leave the pass check out of both A and C and share less
with the pollers (the concert's cached metadata, its hot keys). The admission step (10
buyers/s by default) could not supply the hundreds of distinct buyers per second a closed loop
needs, so the hold buyers are made active shoppers directly: each venue's are put in its
queue's admitted set (as the admission script would, with the queue state's epoch) and their
passes are minted here with the server's key (like the access tokens, see holds.py). The server
checks a pass's signature and then asks Redis whether its holder is active, so a minted pass
costs it exactly what an admitted one does. The venue's `max_active` is --max-active plus
those seeded shoppers, so the pollers are admitted exactly as configured. At the end, holds made
with passes the pollers really got from the server (and one without) show both are accepted
and refused like the minted ones.

Admitted pollers keep their pass and stop polling, as a buyer who goes shopping would. The hold
buyers and the pollers are distinct accounts. Status calls share a pool of keep-alive
connections (--poll-connections), as the service sees them behind a load balancer; a browser
each would mean 10,000 TCP connections, which this client and machine cannot hold honestly.

Defaults: --duration 30 s, the longest poll interval the server advises (MAX_POLL_SECONDS), so
each measured window holds one full poll cycle of every waiting buyer. Figures only: nothing
passes or fails. See bench/README.md ("Waiting room") for how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from harness import (
    CpuUse,
    LoadResult,
    ServiceProcess,
    closed_loop,
    cpu_window,
    percentile,
    print_header,
    progress,
    redis_cpu_seconds,
    tail,
)
from holds import (
    API,
    CAP,
    CPU_HEADER,
    HOLD_TTL_SECONDS,
    Frame,
    PhaseReport,
    Report,
    SeatPool,
    ServerConfig,
    admin_headers,
    concert_body,
    cpu_columns,
    create_and_warm,
    fmt,
    log_on_refusal,
    mint_tokens,
    phase_report,
    print_cpu_per_call,
    report_main,
    seat_ids_of,
    server_config,
    start_service,
)
from rawhttp import RawHttp

from app.platform.redis import RedisClient, build_redis
from app.waiting_room.engine import new_epoch, queue_keys
from app.waiting_room.passes import PassSigner
from app.waiting_room.service import MAX_POLL_SECONDS, MIN_POLL_SECONDS

IDLE_SECONDS = 3.0
UNANSWERED = "unanswered"  # the label of a call still in flight when the run stopped
RETRY_SECONDS = 5.0  # a poller whose call failed (transport error, 5xx, 429) asks again then
CHECK_SEATS = 4  # seats of the queued concert kept back for the pass checks at the end
# uvicorn closes a keep-alive connection idle for 5 s; the pollers' pool drops them sooner.
POLL_CONNECTION_MAX_IDLE_S = 4.0

T = TypeVar("T")


# --- the crowd in the waiting room -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One join or status call: when it was sent (perf_counter: when its timer fired, so
    time spent waiting for a free connection counts), how long it took, how it ended."""

    sent: float
    latency_s: float
    label: str  # HTTP status, or error:<exception>
    advice_s: int = 0  # poll_after_seconds of a "waiting" answer
    ahead: int = -1  # of a "waiting" answer
    eta_s: int = 0  # of a "waiting" answer


class Crowd:
    """The queued buyers. Each joins once, then polls on its own timer, sleeping the previous
    answer's poll_after_seconds; an admitted buyer keeps the pass and stops polling."""

    def __init__(
        self, client: RawHttp, concert_id: str, tokens: list[str], pass_ttl_s: float
    ) -> None:
        self._client = client
        self._path = f"{API}/concerts/{concert_id}/queue"
        self._tokens = tokens
        self._pass_ttl_s = pass_ttl_s
        # Seconds between an admission and the status call that told the buyer: the pass
        # runs from the admission (its expiry minus QUEUE_PASS_TTL_SECONDS).
        self.notice_delays_s: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.joins: list[Call] = []
        self.polls: list[Call] = []
        self.passes: dict[int, str] = {}  # buyer -> the pass the server gave it
        self.closed = 0
        self.delay_s: dict[int, float] = {}  # the wait each polling buyer is sleeping now

    @property
    def polling(self) -> int:
        return len(self.delay_s)

    def advised_rate(self) -> float:
        """Status calls per second the current advice adds up to: sum of 1 / wait."""
        return sum(1.0 / d for d in self.delay_s.values() if d > 0)

    async def _call(self, method: str, n: int, log: list[Call]) -> tuple[Call, float | None]:
        """One call, also appended to `log`; the next wait (None: stop polling)."""
        sent = time.perf_counter()
        try:
            status, body = await self._client.request(method, self._path, token=self._tokens[n])
        except asyncio.CancelledError:
            # Still unanswered when the run stopped (an overloaded server's backlog): counted,
            # with its latency up to now, so that a slow window does not look fast.
            log.append(Call(sent, time.perf_counter() - sent, UNANSWERED))
            raise
        except Exception as exc:  # a transport error is a result, not a crash
            call = Call(sent, time.perf_counter() - sent, f"error:{type(exc).__name__}")
            log.append(call)
            return call, RETRY_SECONDS
        latency = time.perf_counter() - sent
        call, wait = self._answer(n, sent, latency, status, body)
        log.append(call)
        return call, wait

    def _answer(
        self, n: int, sent: float, latency: float, status: int, body: bytes
    ) -> tuple[Call, float | None]:
        if status != 200:
            return Call(sent, latency, str(status)), RETRY_SECONDS
        answer = json.loads(body)
        state = answer["state"]
        if state == "waiting":
            advice = int(answer["poll_after_seconds"])
            ahead = answer["ahead"] if answer["ahead"] is not None else -1
            call = Call(sent, latency, "200", advice, ahead, answer["eta_seconds"] or 0)
            return call, float(advice)
        if state == "admitted":
            self.passes[n] = answer["pass"]
            expires = datetime.fromisoformat(answer["pass_expires_at"]).timestamp()
            self.notice_delays_s.append(time.time() - (expires - self._pass_ttl_s))
        else:
            self.closed += 1
        return Call(sent, latency, "200"), None

    async def _poll(self, n: int, wait: float) -> None:
        try:
            while True:
                self.delay_s[n] = wait
                await asyncio.sleep(wait)
                call, next_wait = await self._call("GET", n, self.polls)
                if next_wait is None:
                    return
                wait = next_wait
        finally:
            self.delay_s.pop(n, None)

    async def join_all(self, concurrency: int) -> None:
        """Every buyer joins, `concurrency` at a time; each starts polling once it has joined."""
        buyers = iter(range(len(self._tokens)))

        async def worker() -> None:
            for n in buyers:
                call, wait = await self._call("POST", n, self.joins)
                if wait is not None and call.label == "200":  # a failed join is not retried
                    self.delay_s[n] = wait
                    self._tasks.append(asyncio.create_task(self._poll(n, wait)))

        def line(elapsed: float) -> str:
            return (
                f"    joins: {elapsed:5.1f} s  {len(self.joins):>8,} joined  "
                f"{len(self.joins) / elapsed:>7.0f}/s  {len(self.polls):>7,} status calls"
            )

        async with progress(2.0, line):
            await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()


def as_load(calls: list[Call], duration_s: float) -> LoadResult:
    outcomes = Counter(c.label for c in calls)
    return LoadResult(
        duration_s=duration_s,
        outcomes=outcomes,
        ok=outcomes.get("200", 0),
        latencies_s=[c.latency_s for c in calls],
        bytes_total=0,
        aborted=False,
    )


def in_window(calls: list[Call], start: float, end: float) -> list[Call]:
    return [c for c in calls if start <= c.sent < end]


def per_second(calls: list[Call], start: float, end: float) -> list[int]:
    counts = [0] * max(1, math.ceil(end - start))
    for c in calls:
        if start <= c.sent < end:
            counts[int(c.sent - start)] += 1
    return counts


def poll_facts(calls: list[Call], start: float, end: float, budget: float) -> dict[str, Any]:
    """What the status calls of one window say about the polling."""
    window = in_window(calls, start, end)
    wall = max(end - start, 1e-9)
    seconds = per_second(calls, start, end)
    full = seconds[:-1] if len(seconds) > 1 and end - start < len(seconds) else seconds
    advice = sorted(c.advice_s for c in window if c.advice_s)
    # The admission rate each ETA assumes: eta = ceil((ahead + 1) / rate * 60). Far enough
    # back (ahead >= 100) the rounding is below 1%.
    implied = sorted((c.ahead + 1) * 60 / c.eta_s for c in window if c.ahead >= 100 and c.eta_s)
    return {
        "status_calls": len(window),
        "status_calls_per_s": round(len(window) / wall, 1),
        "status_calls_peak_1s": max(full) if full else 0,
        "status_calls_p95_1s": percentile(sorted(full), 95) if full else 0,
        "budget_per_s": budget,
        "mean_over_budget": round(len(window) / wall / budget, 3) if budget else None,
        "advised_poll_s": {
            "min": advice[0],
            "median": percentile(advice, 50),
            "max": advice[-1],
            "share_at_max": round(sum(1 for a in advice if a >= MAX_POLL_SECONDS) / len(advice), 3),
        }
        if advice
        else {},
        "eta_admissions_per_minute_median": round(statistics.median(implied), 1)
        if implied
        else None,
    }


def holds_in_waves(
    holds: list[tuple[float, float]],
    polls: list[Call],
    start: float,
    end: float,
    budget: float,
) -> dict[str, Any]:
    """Where the pollers' cost falls on the holds: hold latency in the seconds of a window when
    the pollers' timers fired more status calls than the budget (a poll wave) and in the other
    seconds, plus the window second by second."""
    seconds = max(1, math.ceil(end - start))
    sent, answered = [0] * seconds, [0] * seconds
    for c in polls:
        if start <= c.sent < end:
            sent[int(c.sent - start)] += 1
        done = c.sent + c.latency_s
        if start <= done < end:
            answered[int(done - start)] += 1
    by_second: list[list[float]] = [[] for _ in range(seconds)]
    for t, latency in holds:
        if start <= t < end:
            by_second[int(t - start)].append(latency)
    out: dict[str, Any] = {}
    for name, wave in (("wave_seconds", True), ("other_seconds", False)):
        picked = [i for i in range(seconds) if (sent[i] > budget) == wave]
        values = sorted(v for i in picked for v in by_second[i])
        out[name] = {
            "seconds": len(picked),
            "holds": len(values),
            "p50_ms": round(percentile(values, 50) * 1000, 1) if values else None,
            "p99_ms": round(percentile(values, 99) * 1000, 1) if values else None,
        }
    out["per_second"] = {
        "status_calls_sent": sent,
        "status_calls_answered": answered,
        "holds": [len(v) for v in by_second],
        "hold_p99_ms": [
            round(percentile(sorted(v), 99) * 1000, 1) if v else None for v in by_second
        ],
    }
    return out


# --- measuring a window ----------------------------------------------------------------------


@dataclass
class Window(Generic[T]):
    value: T
    cpu: CpuUse
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Meter:
    service: ServiceProcess
    redis: RedisClient

    async def redis_cpu_seconds(self) -> float:
        return await redis_cpu_seconds(self.redis)

    async def window(self, work: Callable[[], Awaitable[T]]) -> Window[T]:
        """CPU of this process, the server and Redis while `work` runs."""
        return Window(*await cpu_window(self.service.pids(), self.redis_cpu_seconds, work))


def with_p999(report: PhaseReport, result: LoadResult) -> PhaseReport:
    values = sorted(result.latencies_s)
    if values:
        report.latency_ms["p99_9"] = round(percentile(values, 99.9) * 1000, 3)
    return report


# --- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    args: argparse.Namespace
    config: ServerConfig
    service: ServiceProcess
    budget: float


async def queued_concert(
    admin: httpx.AsyncClient, headers: dict[str, str], args: argparse.Namespace, number: int
) -> tuple[str, list[str], dict[str, float]]:
    """A concert on sale since an hour ago with its waiting room on (so the line is first
    come, first served), created and warmed through the API. Room for --max-active admitted
    pollers besides one seeded shopper per seat (seed_shoppers)."""
    body = concert_body(args.seats, number)
    body["title"] = f"Benchmark queued on-sale {number}"
    body["queue"] = {
        "enabled": True,
        "admit_per_minute": args.admit_per_minute,
        "max_active": min(1_000_000, args.max_active + args.seats),
    }
    concert, timings = await create_and_warm(admin, headers, body, "create")
    return concert["id"], seat_ids_of(concert), timings


async def seed_shoppers(
    redis: RedisClient, concert_id: str, users: list[str], expires_ms: int
) -> str:
    """Make `users` active shoppers of the concert's queue, as admissions would, and answer the
    queue state's epoch for their passes."""
    _, admitted, meta, _ = queue_keys(concert_id)
    await redis.hsetnx(meta, "epoch", new_epoch())
    for start in range(0, len(users), 5000):
        await redis.zadd(admitted, dict.fromkeys(users[start : start + 5000], expires_ms))
    epoch = await redis.hget(meta, "epoch")
    return epoch.decode() if isinstance(epoch, bytes) else str(epoch)


async def run_scenario(sc: Scenario, report: Report, redis_url: str) -> None:
    redis = build_redis(redis_url, 10.0, 4)
    try:
        async with httpx.AsyncClient(base_url=sc.service.base_url, timeout=60.0) as admin:
            await _scenario(sc, report, redis, admin)
    finally:
        await redis.aclose()


async def _scenario(
    sc: Scenario, report: Report, redis: RedisClient, admin: httpx.AsyncClient
) -> None:
    args, settings = sc.args, sc.config.settings
    print("  setup: uvicorn starting ...", flush=True)
    report.setup["server_ready_s"] = round(await sc.service.wait_ready(), 2)
    headers = await admin_headers(admin, sc.config.admin)

    venues: list[dict[str, Any]] = []
    passes: dict[str, list[str]] = {}
    epochs: dict[str, str] = {}  # venue -> its queue state's epoch, for the minted passes
    signer = PassSigner(settings.signing_secret, settings.jwt_issuer)
    pass_expiry_ms = int((time.time() + 4 * 3600) * 1000)

    async def open_venue() -> tuple[str, list[str]]:
        concert_id, seat_ids, timings = await queued_concert(admin, headers, args, len(venues) + 1)
        # Hold buyer n is "bench-user-{n}" (mint_tokens): one per seat, active shoppers.
        shoppers = [f"bench-user-{n}" for n in range(len(seat_ids))]
        epochs[concert_id] = await seed_shoppers(redis, concert_id, shoppers, pass_expiry_ms)
        venues.append({"concert_id": concert_id, "seats": len(seat_ids), **timings})
        return concert_id, seat_ids

    concert_id, seat_ids = await open_venue()
    report.setup["venues"] = venues
    check_seats, hold_seats = seat_ids[:CHECK_SEATS], seat_ids[CHECK_SEATS:]
    print(
        f"  setup: ready in {report.setup['server_ready_s']} s; {args.seats:,}-seat concert "
        f"with its queue on created in {venues[0]['create_s']} s, "
        f"warmed in {venues[0]['warm_s']} s",
        flush=True,
    )

    t0 = time.perf_counter()
    waiters = mint_tokens(settings, args.buyers, "bench-waiter")
    holders = mint_tokens(settings, len(seat_ids))  # later venues have every seat for holds
    # Hold buyer n is "bench-user-{n}" (mint_tokens); their passes for the first concert now,
    # for any further one (if the holds use up three quarters of it) when it opens.
    passes[concert_id] = [
        signer.sign(f"bench-user-{n}", concert_id, pass_expiry_ms, epochs[concert_id])
        for n in range(len(holders))
    ]
    report.setup["tokens_minted"] = len(waiters) + len(holders)
    report.setup["passes_minted"] = len(holders)
    report.setup["mint_s"] = round(time.perf_counter() - t0, 2)
    print(
        f"  setup: minted {len(waiters):,} waiting buyers' and {len(holders):,} hold buyers' "
        f"access tokens and {len(holders):,} passes in {report.setup['mint_s']} s",
        flush=True,
    )

    def pass_for(concert: str, n: int) -> str:
        minted = passes.get(concert)
        if minted is not None and n < len(minted):
            return minted[n]
        return signer.sign(f"bench-user-{n}", concert, pass_expiry_ms, epochs[concert])

    meter = Meter(sc.service, redis)
    hold_client = RawHttp("127.0.0.1", sc.service.port, args.concurrency)
    poll_client = RawHttp(
        "127.0.0.1",
        sc.service.port,
        args.poll_connections,
        max_idle_seconds=POLL_CONNECTION_MAX_IDLE_S,
    )
    pool: SeatPool[str] = SeatPool(open_venue, first=(concert_id, hold_seats))
    hold_log: list[tuple[float, float]] = []  # (sent, latency) of every answered hold
    crowd = Crowd(poll_client, concert_id, waiters, settings.queue_pass_ttl_seconds)

    async def hold() -> tuple[str, int]:
        concert, seat_id, n = await pool.take()
        sent = time.perf_counter()
        status, reply = await hold_client.request(
            "POST",
            f"{API}/concerts/{concert}/holds",
            json.dumps({"seat_ids": [seat_id]}).encode(),
            holders[n],
            headers={"X-Queue-Pass": pass_for(concert, n)},
        )
        hold_log.append((sent, time.perf_counter() - sent))
        return str(status), len(reply)

    async def holds_for(duration: float, quiet: bool = False) -> LoadResult:
        return await closed_loop(
            "holds",
            hold,
            ok_labels=frozenset({"201"}),
            concurrency=args.concurrency,
            duration_s=duration,
            quiet=quiet,
        )

    try:
        await _phases(sc, report, redis, meter, crowd, holds_for, hold_log, concert_id)
        report.setup["pass_checks"] = await pass_checks(
            hold_client, concert_id, check_seats, crowd, waiters, holders[0]
        )
    finally:
        await crowd.stop()
        await pool.close()
        await hold_client.aclose()
        await poll_client.aclose()


async def queue_state(redis: RedisClient, concert_id: str) -> dict[str, int]:
    line, admitted, meta, _ = queue_keys(concert_id)
    now_ms = int(time.time() * 1000)
    # Admitted pollers only: the seeded hold buyers' passes (seed_shoppers) run out hours later.
    pollers_until = now_ms + 3600 * 1000
    return {
        "waiting": int(await redis.zcard(line)),
        "active": int(await redis.zcount(admitted, now_ms, pollers_until)),
        "admitted_total": int(await redis.hget(meta, "admitted") or 0),
    }


async def _phases(
    sc: Scenario,
    report: Report,
    redis: RedisClient,
    meter: Meter,
    crowd: Crowd,
    holds_for: Callable[[float, bool], Awaitable[LoadResult]],
    hold_log: list[tuple[float, float]],
    concert_id: str,
) -> None:
    args = sc.args
    duration, warmup = args.duration, args.warmup

    # Idle: what the server's background jobs cost with nobody calling.
    print(f"[1/4] idle: {IDLE_SECONDS:g} s without load", flush=True)
    idle = await meter.window(lambda: asyncio.sleep(IDLE_SECONDS))
    idle_load = LoadResult(idle.seconds, Counter(), 0, [], 0, False)
    report.phases.append(
        phase_report("idle", "idle (background jobs only)", "-", idle_load, idle.cpu, sized=False)
    )

    # A: holds alone.
    print(
        f"[2/4] A, holds alone: {args.concurrency} in flight, {warmup:g} s warm-up + "
        f"{duration:g} s",
        flush=True,
    )
    if warmup > 0:
        await holds_for(warmup, True)
    alone = await meter.window(lambda: holds_for(duration, False))
    print(f"    done: {alone.value.ok / alone.seconds:,.0f} holds/s", flush=True)
    report.phases.append(
        with_p999(
            phase_report(
                "holds-alone",
                "A  holds alone",
                "holds/s",
                alone.value,
                alone.cpu,
                sized=False,
            ),
            alone.value,
        )
    )

    # B: the crowd joins, then polls.
    print(
        f"[3/4] B, the queue alone: {args.buyers:,} buyers join ({args.join_concurrency} at a "
        f"time), then poll for {duration:g} s",
        flush=True,
    )
    before_join = await queue_state(redis, concert_id)
    joined = await meter.window(lambda: crowd.join_all(args.join_concurrency))
    joins = as_load(crowd.joins, joined.seconds)
    report.phases.append(
        with_p999(
            phase_report(
                "queue-join",
                f"B1 joins ({args.buyers:,} buyers)",
                "joins/s",
                joins,
                joined.cpu,
                sized=False,
                extra={"status_calls_meanwhile": len(crowd.polls), "queue_before": before_join},
            ),
            joins,
        )
    )
    print(
        f"    done: {len(crowd.joins):,} joins in {joined.seconds:.1f} s "
        f"({joins.ok / joined.seconds:,.0f}/s), outcomes {dict(joins.outcomes.most_common())}",
        flush=True,
    )

    async def watch_polls() -> dict[str, Any]:
        start = time.perf_counter()
        at_start = await queue_state(redis, concert_id)
        advised_start = crowd.advised_rate()
        while (elapsed := time.perf_counter() - start) < duration:
            await asyncio.sleep(min(5.0, duration - elapsed))
            elapsed = time.perf_counter() - start
            calls = len(in_window(crowd.polls, start, start + elapsed))
            state = await queue_state(redis, concert_id)
            print(
                f"    polls: {elapsed:5.1f}/{duration:.0f} s  {calls:>8,} status calls  "
                f"{calls / elapsed:>6.0f}/s  waiting {state['waiting']:,}  "
                f"admitted {state['admitted_total']:,}",
                flush=True,
            )
        return {"queue_start": at_start, "advised_rate_start": advised_start}

    polled = await meter.window(watch_polls)
    queue_end = await queue_state(redis, concert_id)
    polling_after_b = crowd.polling
    advised_rate_end = crowd.advised_rate()
    buyers_with_pass = len(crowd.passes)

    # C: holds while the crowd polls.
    print(
        f"[4/4] C, holds with {crowd.polling:,} buyers polling: {args.concurrency} in flight, "
        f"{warmup:g} s warm-up + {duration:g} s",
        flush=True,
    )
    if warmup > 0:
        await holds_for(warmup, True)
    c_start_state = await queue_state(redis, concert_id)
    both = await meter.window(lambda: holds_for(duration, False))
    c_end_state = await queue_state(redis, concert_id)
    polling_in_c = crowd.polling
    # The status calls of B2 and C are counted by when they were sent, once every one has been
    # answered or stopped: calls a backlog held past a window's end still count in it.
    await crowd.stop()

    poll_calls = in_window(crowd.polls, polled.start, polled.end)
    facts = poll_facts(crowd.polls, polled.start, polled.end, sc.budget)
    admitted = queue_end["admitted_total"] - polled.value["queue_start"]["admitted_total"]
    report.phases.append(
        with_p999(
            phase_report(
                "queue-poll",
                f"B2 status polls ({polling_after_b:,} waiting)",
                "status calls/s",
                as_load(poll_calls, polled.seconds),
                polled.cpu,
                sized=False,
                extra={
                    **facts,
                    "queue_start": polled.value["queue_start"],
                    "queue_end": queue_end,
                    "admitted_in_window": admitted,
                    "admitted_per_minute": round(admitted / polled.seconds * 60, 1),
                    "advised_rate_per_s_start": round(polled.value["advised_rate_start"], 1),
                    "advised_rate_per_s_end": round(advised_rate_end, 1),
                    "buyers_with_pass": buyers_with_pass,
                },
            ),
            as_load(poll_calls, polled.seconds),
        )
    )

    during = in_window(crowd.polls, both.start, both.end)
    during_load = as_load(during, both.seconds)
    c_facts = poll_facts(crowd.polls, both.start, both.end, sc.budget)
    c_facts["latency_ms"] = during_load.latency_ms()
    c_facts["outcomes"] = dict(during_load.outcomes.most_common())
    waves = holds_in_waves(hold_log, crowd.polls, both.start, both.end, sc.budget)
    c_admitted = c_end_state["admitted_total"] - c_start_state["admitted_total"]
    print(
        f"    done: {both.value.ok / both.seconds:,.0f} holds/s with "
        f"{len(during) / both.seconds:,.0f} status calls/s",
        flush=True,
    )
    report.phases.append(
        with_p999(
            phase_report(
                "holds-with-queue",
                f"C  holds + {polling_in_c:,} pollers",
                "holds/s",
                both.value,
                both.cpu,
                sized=False,
                extra={
                    "status_calls": c_facts,
                    "holds_by_poll_load": waves,
                    "queue_end": c_end_state,
                    "admitted_in_window": c_admitted,
                },
            ),
            both.value,
        )
    )
    origin = crowd.joins[0].sent if crowd.joins else joined.start
    report.derived["status_calls_per_second_timeline"] = {
        "origin": "first join",
        "marks_s": {
            "joins_done": round(joined.end - origin, 1),
            "B2_start": round(polled.start - origin, 1),
            "B2_end": round(polled.end - origin, 1),
            "C_start": round(both.start - origin, 1),
            "C_end": round(both.end - origin, 1),
        },
        "counts": per_second(crowd.polls, origin, both.end),
    }
    delays = sorted(crowd.notice_delays_s)
    if delays:
        report.derived["admission_notice_delay_s"] = {
            "buyers": len(delays),
            "median": round(percentile(delays, 50), 1),
            "p95": round(percentile(delays, 95), 1),
            "max": round(delays[-1], 1),
        }


async def pass_checks(
    client: RawHttp,
    concert_id: str,
    seats: list[str],
    crowd: Crowd,
    waiters: list[str],
    holder_token: str,
) -> dict[str, Any]:
    """Holds with passes the server itself issued to admitted pollers (expect 201), and one
    without a pass (expect 403 QueuePassRequired)."""
    path = f"{API}/concerts/{concert_id}/holds"
    out: dict[str, Any] = {"with_server_pass": [], "without_pass": None}
    for seat_id, (n, issued) in zip(seats[1:], list(crowd.passes.items())[:3], strict=False):
        status, _ = await client.request(
            "POST",
            path,
            json.dumps({"seat_ids": [seat_id]}).encode(),
            waiters[n],
            headers={"X-Queue-Pass": issued},
        )
        out["with_server_pass"].append(status)
    if seats:
        status, _ = await client.request(
            "POST", path, json.dumps({"seat_ids": [seats[0]]}).encode(), holder_token
        )
        out["without_pass"] = status
    return out


# --- the summary -----------------------------------------------------------------------------


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}"


def _pct_delta(after: float | None, before: float | None) -> float | None:
    if after is None or before is None:
        return None
    return round(after - before, 1)


def derive(report: Report, budget: float) -> None:
    idle, alone = report.phase("idle"), report.phase("holds-alone")
    join, polls = report.phase("queue-join"), report.phase("queue-poll")
    both = report.phase("holds-with-queue")
    d = report.derived
    idle_server_pct = idle.cpu.server_pct if idle else None
    if polls and polls.calls:
        server_pct = polls.cpu.server_pct
        net = None
        if server_pct is not None and idle_server_pct is not None:
            net = max(0.0, server_pct - idle_server_pct)
        d["polling"] = {
            "status_calls_per_s": polls.requests_per_s,
            "status_calls_peak_1s": polls.extra["status_calls_peak_1s"],
            "budget_per_s": budget,
            "within_budget_on_average": polls.requests_per_s <= budget * 1.05,
            "server_cpu_us_per_status_call": polls.cpu_us_per_call["server"],
            "server_cpu_us_per_status_call_net_of_idle": None
            if net is None
            else round(net / 100 * 1e6 / polls.requests_per_s, 1),
            "server_pct_of_a_core": server_pct,
            "server_pct_of_a_core_net_of_idle": None if net is None else round(net, 1),
            "redis_cpu_us_per_status_call": polls.cpu_us_per_call["redis"],
            "bench_cpu_us_per_status_call": polls.cpu_us_per_call["bench"],
            "server_pct_of_a_core_at_budget": None
            if net is None
            else round(net / polls.requests_per_s * budget, 1),
        }
    if join and join.calls:
        d["joins"] = {
            "joins_per_s": join.requests_per_s,
            "server_cpu_us_per_join": join.cpu_us_per_call["server"],
        }
    if alone and both:
        la, lb = alone.latency_ms, both.latency_ms

        def ratio(key: str) -> float | None:
            a, b = la.get(key), lb.get(key)
            return round(b / a, 2) if a and b else None

        d["holds"] = {
            "holds_per_s_alone": alone.ok_per_s,
            "holds_per_s_with_queue": both.ok_per_s,
            "holds_per_s_change_pct": round((both.ok_per_s / alone.ok_per_s - 1) * 100, 1)
            if alone.ok_per_s
            else None,
            "p50_ms": [la.get("p50"), lb.get("p50")],
            "p99_ms": [la.get("p99"), lb.get("p99")],
            "p99_9_ms": [la.get("p99_9"), lb.get("p99_9")],
            "p99_ratio": ratio("p99"),
            "with_queue_by_poll_load": both.extra.get("holds_by_poll_load"),
            "p99_9_ratio": ratio("p99_9"),
            "server_pct_alone": alone.cpu.server_pct,
            "server_pct_with_queue": both.cpu.server_pct,
            "extra_server_pct": _pct_delta(both.cpu.server_pct, alone.cpu.server_pct),
            "extra_redis_pct": _pct_delta(both.cpu.redis_pct, alone.cpu.redis_pct),
            "extra_machine_busy_pct": _pct_delta(
                both.cpu.machine_busy_pct, alone.cpu.machine_busy_pct
            ),
        }
    checks = report.setup.get("pass_checks") or {}
    issued = checks.get("with_server_pass") or []
    if issued and any(s != 201 for s in issued):
        report.notes.append(f"Holds with passes the server issued answered {issued}, not 201.")
    if checks.get("without_pass") not in (None, 403):
        report.notes.append(f"A hold without a pass answered {checks['without_pass']}, not 403.")
    if polls and polls.extra.get("status_calls_peak_1s", 0) > budget:
        report.notes.append(
            f"Status calls came in waves: {polls.extra['status_calls_peak_1s']} in the busiest "
            f"second against a budget of {budget:g}/s (mean {polls.requests_per_s:g}/s). The "
            "advised interval has no jitter, so buyers who joined together poll together, one "
            "poll interval after the join burst and every interval after that."
        )
    failures = sum(
        n
        for p in report.phases
        for label, n in p.outcomes.items()
        if label.startswith("error") or (label.isdigit() and int(label) >= 500)
    )
    if failures:
        report.notes.append(f"{failures} calls failed (5xx or transport errors).")
    unexpected = {
        f"{p.key}:{label}": n
        for p in report.phases
        for label, n in p.outcomes.items()
        if label.isdigit() and label not in {"200", "201"} and int(label) < 500
    }
    if unexpected:
        report.notes.append(f"Refused calls: {unexpected} (expected none).")
    pending = sum(p.outcomes.get(UNANSWERED, 0) for p in report.phases)
    if both:
        pending += both.extra["status_calls"]["outcomes"].get(UNANSWERED, 0)
    if pending:
        report.notes.append(
            f"{pending:,} status calls were still unanswered when the pollers stopped (the "
            "server's backlog); they count with their latency up to then, a lower bound."
        )
    report.note_disturbed(
        "compare A and C only if their other% are alike, or run again when the machine is idle."
    )
    report.notes[:0] = [
        "bench%, server%, redis% = CPU time over the phase as % of ONE core (bench = this "
        "load generator, server = uvicorn and its workers, redis = INFO used_cpu_*); other = "
        "machine busy time none of them explains; machine% = busy share of all cores.",
        f"This machine has {report.environment['cpus']} CPUs shared by the load generator, "
        "uvicorn and Redis: rates are lower bounds of what the service does alone.",
    ]


def print_report(report: Report) -> None:
    env, cfg = report.environment, report.settings
    print()
    print(report.server_line(f"rate limits {'on' if cfg['rate_limits'] else 'off'}"))
    print(
        f"Queue:  {cfg['buyers']:,} buyers, admit {cfg['admit_per_minute']}/min, max active "
        f"{cfg['max_active']:,}, poll budget {cfg['poll_budget_per_s']:g}/s, admission every "
        f"{cfg['admit_interval_s']:g} s"
    )
    if cfg.get("server_env_inherited"):
        print(f"        plus from the environment: {cfg['server_env_inherited']}")
    print(
        f"Load:   holds {cfg['concurrency']} in flight on the queued {cfg['seats']:,}-seat "
        f"concert (with passes); joins {cfg['join_concurrency']} in flight; pollers on "
        f"{cfg['poll_connections']} keep-alive connections; {cfg['duration_s']:g} s windows; "
        f"{env['bench_event_loop']}; {env['cpus']} CPUs; Python {env['python']}"
    )
    print()
    header = f"{'phase':<36} {'ok/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'p99.9ms':>7} {CPU_HEADER}"
    print_header(header)
    for p in report.phases:
        lat = p.latency_ms
        rate = None if p.key == "idle" else p.ok_per_s
        print(
            f"{p.title[:36]:<36} {fmt(rate):>7} {fmt(lat.get('p50'), 1):>7} "
            f"{fmt(lat.get('p99'), 1):>7} {fmt(lat.get('p99_9'), 1):>7} {cpu_columns(p.cpu)}"
        )
        if p.key == "holds-with-queue":
            s = p.extra["status_calls"]
            lat = s["latency_ms"]
            print(
                f"{'   ...status calls meanwhile':<36} {fmt(s['status_calls_per_s']):>7} "
                f"{fmt(lat.get('p50'), 1):>7} {fmt(lat.get('p99'), 1):>7}"
            )
    calls = [p for p in report.phases if p.key not in ("idle", "holds-with-queue")]
    print_cpu_per_call(calls, 36, 7)
    print()
    polling, holds = report.derived.get("polling"), report.derived.get("holds")
    polls = report.phase("queue-poll")
    if polling and polls:
        advice = polls.extra.get("advised_poll_s") or {}
        print(
            f"  polling: {polling['status_calls_per_s']:,.0f} status calls/s on average, "
            f"{polling['status_calls_peak_1s']:,} in the busiest second (budget "
            f"{polling['budget_per_s']:g}/s); advised interval {advice.get('min')}-"
            f"{advice.get('max')} s (median {advice.get('median')})"
        )
        print(
            f"           server CPU {fmt(polling['server_cpu_us_per_status_call'])} us per "
            f"status call = {fmt(polling['server_pct_of_a_core'])}% of a core "
            f"({fmt(polling['server_pct_of_a_core_net_of_idle'])}% net of idle; at the full "
            f"budget about {fmt(polling['server_pct_of_a_core_at_budget'])}%); Redis "
            f"{fmt(polling['redis_cpu_us_per_status_call'])} us per call"
        )
        print(
            f"           admitted {polls.extra['admitted_in_window']:,} in the window "
            f"({polls.extra['admitted_per_minute']:g}/min); ETAs assumed "
            f"{fmt(polls.extra.get('eta_admissions_per_minute_median'))}/min; "
            f"{polls.extra['queue_end']['waiting']:,} still waiting"
        )
    notice = report.derived.get("admission_notice_delay_s")
    if notice:
        print(
            f"           {notice['buyers']:,} admitted buyers learned it {notice['median']:g} s "
            f"after their admission (median; p95 {notice['p95']:g} s, max {notice['max']:g} s)"
        )
    if holds:
        p99, p999, p50 = holds["p99_ms"], holds["p99_9_ms"], holds["p50_ms"]
        print(
            f"  holds:   p99 {fmt(p99[0], 1)} ms alone -> {fmt(p99[1], 1)} ms with the pollers "
            f"(x{fmt(holds['p99_ratio'], 2)}); p99.9 {fmt(p999[0], 1)} -> {fmt(p999[1], 1)} ms; "
            f"p50 {fmt(p50[0], 1)} -> {fmt(p50[1], 1)} ms"
        )
        print(
            f"           {holds['holds_per_s_alone']:,.0f} -> "
            f"{holds['holds_per_s_with_queue']:,.0f} holds/s "
            f"({fmt(holds['holds_per_s_change_pct'], 1)}%); server CPU "
            f"{fmt(holds['server_pct_alone'])}% -> {fmt(holds['server_pct_with_queue'])}% of a "
            f"core ({_signed(holds['extra_server_pct'])} points)"
        )
        waves = holds.get("with_queue_by_poll_load") or {}
        wave, calm = waves.get("wave_seconds"), waves.get("other_seconds")
        if wave and calm and wave["seconds"]:
            print(
                f"           in C, hold p99 {fmt(wave['p99_ms'], 1)} ms in the {wave['seconds']:g} "
                f"s when the pollers sent more status calls than the budget, "
                f"{fmt(calm['p99_ms'], 1)} ms in the other {calm['seconds']:g} s"
            )
    checks = report.setup.get("pass_checks")
    if checks:
        print(
            f"  passes:  holds with server-issued passes answered {checks['with_server_pass']}, "
            f"without a pass {checks['without_pass']}"
        )
    print()
    for note in report.notes:
        print(f"  note: {note}")


# --- orchestration ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The waiting room under load: the CPU cost of polling and the hold p99 "
        "with and without queue traffic (figures only).",
    )
    parser.add_argument("--buyers", type=int, default=10_000, help="buyers in the queue")
    parser.add_argument(
        "--duration",
        type=float,
        default=float(MAX_POLL_SECONDS),
        help="measured seconds of each phase (default: the longest advised poll interval)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds of holds")
    parser.add_argument("--concurrency", type=int, default=64, help="holds in flight")
    parser.add_argument("--join-concurrency", type=int, default=64, help="joins in flight")
    parser.add_argument(
        "--poll-connections", type=int, default=64, help="keep-alive connections of the pollers"
    )
    parser.add_argument("--seats", type=int, default=50_000, help="seats of the queued concert")
    parser.add_argument(
        "--admit-per-minute", type=int, default=600, help="the concert's admission rate"
    )
    parser.add_argument(
        "--max-active", type=int, default=2000, help="the concert's admitted shoppers at most"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results (default bench/results/waiting-room-*.json)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.buyers <= 1_000_000:
        parser.error("--buyers must be 1..1000000")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if not CHECK_SEATS < args.seats <= 100_000:
        parser.error(f"--seats must be {CHECK_SEATS + 1}..100000")
    for name in ("concurrency", "join_concurrency", "poll_connections"):
        if not 1 <= getattr(args, name) <= 10_000:
            parser.error(f"--{name.replace('_', '-')} must be 1..10000")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be 1..64")
    if not 1 <= args.admit_per_minute <= 1_000_000 or not 1 <= args.max_active <= 1_000_000:
        parser.error("--admit-per-minute and --max-active must be 1..1000000 (the API's limits)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report.begin(
        {
            "buyers": args.buyers,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "idle_s": IDLE_SECONDS,
            "concurrency": args.concurrency,
            "join_concurrency": args.join_concurrency,
            "poll_connections": args.poll_connections,
            "workers": args.workers,
            "seats": args.seats,
            "admit_per_minute": args.admit_per_minute,
            "max_active": args.max_active,
            "max_tickets_per_user": CAP,
            "hold_ttl_s": HOLD_TTL_SECONDS,
            "holds_on": "the queued concert, with passes minted with the server's key",
            "store": "sql (SQLite file in a temp dir)",
            "sweeper_in_process": True,
            "redis": "private redis-server",
        }
    )
    print(
        f"Encore waiting-room benchmark: {args.buyers:,} queued buyers, holds {args.concurrency} "
        f"in flight, {args.workers} uvicorn worker(s), {args.duration:g} s per phase",
        flush=True,
    )

    def run(frame: Frame) -> None:
        config = server_config(frame.workdir, frame.redis_url)
        config.record(report)
        settings = config.settings
        report.settings.update(
            poll_budget_per_s=settings.queue_poll_budget_per_second,
            admit_interval_s=settings.queue_admit_interval_seconds,
            pass_ttl_s=settings.queue_pass_ttl_seconds,
            rate_limits=config.env["RATE_LIMIT_ENABLED"].lower() == "true",
            poll_advice_bounds_s=[MIN_POLL_SECONDS, MAX_POLL_SECONDS],
        )
        service = start_service(frame.stack, config, args.workers, frame.workdir)
        sc = Scenario(args, config, service, settings.queue_poll_budget_per_second)
        with log_on_refusal(service):
            frame.runner.run(run_scenario(sc, report, frame.redis_url))
        derive(report, sc.budget)
        if any("failed" in note for note in report.notes):
            report.notes.append(tail(service.log_path, 15))

    return report_main(report, "waiting-room", args.out, run, lambda: print_report(report))


if __name__ == "__main__":
    sys.exit(main())

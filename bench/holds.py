"""Hold throughput and seat-map reads for a 50,000-seat venue.

    .venv/bin/python bench/holds.py                      # defaults: 50k seats, 10 s per phase
    .venv/bin/python bench/holds.py --workers 2 --duration 20

Phases (see bench/README.md for what each one measures and how to read the figures):
  engine        SeatEngine.hold() straight from this process: the raw Lua rate
  healthz       GET /healthz through uvicorn: the trivial-endpoint baseline
  holds         POST /api/v1/concerts/{id}/holds, one random free seat, distinct buyers
  seats-static  GET /api/v1/concerts/{id}/seats while nothing changes (cached per version)
  seats-live    the same while a background task keeps holding and releasing seats

The measured HTTP calls go through bench/rawhttp.py (httpx with --client httpx); setup calls
(login, concert creation) through httpx. Figures are for people; nothing here passes or fails
on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar

import httpx
from harness import (
    REPO_ROOT,
    BenchError,
    CpuUse,
    LoadResult,
    Op,
    PrivateRedis,
    RedisServerNotFound,
    ServiceProcess,
    closed_loop,
    command_line,
    cpu_window,
    git_revision,
    print_header,
    redis_cpu_seconds,
    tail,
    temp_workdir,
    utc_now,
    write_json,
)
from pydantic import SecretStr
from rawhttp import HttpClient, ProtocolError, make_client

from app.auth.tokens import TokenService
from app.platform.redis import RedisClient, build_redis
from app.seats.engine import ACTIVE_CONCERTS_KEY, SeatEngine, concert_keys
from app.settings import Settings

PHASES = ("engine", "healthz", "holds", "seats-static", "seats-live")
HTTP_PHASES = frozenset(PHASES[1:])
CAP = 8  # max_tickets_per_user of the bench concerts (the API allows at most 100)
HOLD_TTL_SECONDS = 3600  # no hold expires during a run, so the "static" map stays static
SEATS_PER_ROW = 100
ROWS_PER_SECTION = 100
LIVE_SEATS = 32  # seats of the map venue kept back for the seats-live writer
API = "/api/v1"
_VERSION = re.compile(rb'"version":(\d+)')

S = TypeVar("S")


# --- seats handed out once each --------------------------------------------------------------


class SeatPool(Generic[S]):
    """Free seats of a venue, each handed out once, in random order, with an ordinal that
    names a distinct buyer. When a venue is three quarters used the next one is opened in the
    background; a phase never runs out of free seats and (nearly) every hold succeeds."""

    def __init__(
        self,
        open_venue: Callable[[], Coroutine[Any, Any, tuple[str, list[S]]]],
        first: tuple[str, list[S]] | None = None,
    ) -> None:
        self._open = open_venue
        self._lock = asyncio.Lock()
        self._next: asyncio.Task[tuple[str, list[S]]] | None = None
        self._concert = ""
        self._free: list[S] = []
        self._used = 0
        self._low_water = 0
        self.venues = 0
        if first is not None:
            self._install(*first)

    def _install(self, concert_id: str, seats: list[S]) -> None:
        free = list(seats)
        secrets.SystemRandom().shuffle(free)
        self._concert, self._free, self._used = concert_id, free, 0
        self._low_water = len(free) // 4
        self.venues += 1

    async def take(self) -> tuple[str, S, int]:
        while not self._free:
            async with self._lock:
                if self._free:
                    break
                if self._next is None:
                    self._next = asyncio.create_task(self._open())
                try:
                    venue = await self._next
                finally:
                    self._next = None
                self._install(*venue)
        seat = self._free.pop()
        ordinal = self._used
        self._used += 1
        if len(self._free) <= self._low_water and self._next is None:
            self._next = asyncio.create_task(self._open())
        return self._concert, seat, ordinal

    async def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._next
            self._next = None


# --- results ---------------------------------------------------------------------------------


@dataclass
class PhaseReport:
    key: str
    title: str
    ok_meaning: str
    duration_s: float
    calls: int
    ok: int
    ok_per_s: float
    requests_per_s: float
    outcomes: dict[str, int]
    latency_ms: dict[str, float]
    bytes_per_response: float | None
    cpu: CpuUse
    cpu_us_per_call: dict[str, float | None]
    aborted: bool
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    started_at: str
    command: str
    settings: dict[str, Any]
    environment: dict[str, Any]
    setup: dict[str, Any] = field(default_factory=dict)
    phases: list[PhaseReport] = field(default_factory=list)
    derived: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def phase(self, key: str) -> PhaseReport | None:
        return next((p for p in self.phases if p.key == key), None)

    def note_disturbed(self, advice: str) -> None:
        """A note naming the phases during which other processes used over a quarter core,
        and what follows (`advice`)."""
        disturbed = [p for p in self.phases if (p.cpu.other_pct or 0.0) > 25]
        if disturbed:
            culprits = "; ".join(
                f"{p.key}: {', '.join(p.cpu.others_top) or 'unknown'}" for p in disturbed
            )
            self.notes.append(
                f"Something else kept the machine busy during "
                f"{', '.join(p.key for p in disturbed)} (other% above 25; {culprits}): {advice}"
            )

    def server_line(self, rest: str) -> str:
        """The first line of the printed summary: the server, its store and Redis, `rest`."""
        env, cfg = self.environment, self.settings
        redis_version = env.get("valkey_version") or env.get("redis_version")
        return (
            f"Server: uvicorn {env['uvicorn']} ({env['uvicorn_loop_http']}), "
            f"{cfg['workers']} worker(s), APP_ENV=test, store {cfg['store']}, "
            f"{cfg['redis']} {redis_version}, {rest}"
        )

    @classmethod
    def begin(cls, settings: dict[str, Any]) -> Report:
        """The report of a run starting now, with these settings."""
        return cls(
            started_at=utc_now(),
            command=command_line(),
            settings=settings,
            environment=environment_facts(event_loop_factory()[1]),
        )


def phase_report(
    key: str,
    title: str,
    ok_meaning: str,
    result: LoadResult,
    cpu: CpuUse,
    *,
    sized: bool,
    extra: dict[str, Any] | None = None,
) -> PhaseReport:
    wall = max(result.duration_s, 1e-9)
    calls = max(result.calls, 1)

    def per_call(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds / calls * 1e6, 1)

    return PhaseReport(
        key=key,
        title=title,
        ok_meaning=ok_meaning,
        duration_s=round(result.duration_s, 3),
        calls=result.calls,
        ok=result.ok,
        ok_per_s=round(result.ok / wall, 1),
        requests_per_s=round(result.calls / wall, 1),
        outcomes=dict(result.outcomes.most_common()),
        latency_ms=result.latency_ms(),
        bytes_per_response=round(result.bytes_total / result.calls, 1)
        if sized and result.calls
        else None,
        cpu=cpu,
        cpu_us_per_call={
            "bench": per_call(cpu.bench_s),
            "server": per_call(cpu.server_s),
            "redis": per_call(cpu.redis_s),
        },
        aborted=result.aborted,
        extra=extra or {},
    )


# --- measuring one phase ---------------------------------------------------------------------


@dataclass
class Steps:
    """Numbers the phases in the progress output: [2/5] ..."""

    count: int
    done: int = 0


@dataclass
class Rig:
    """What every phase needs: the load shape, the CPU probes, the progress numbering."""

    concurrency: int
    duration_s: float
    warmup_s: float
    redis: RedisClient
    steps: Steps
    service: ServiceProcess | None = None

    async def redis_cpu_seconds(self) -> float:
        return await redis_cpu_seconds(self.redis)

    def announce(self, title: str) -> None:
        self.steps.done += 1
        print(
            f"[{self.steps.done}/{self.steps.count}] {title}: {self.concurrency} concurrent, "
            f"{self.warmup_s:g} s warm-up + {self.duration_s:g} s",
            flush=True,
        )

    async def measure(
        self,
        key: str,
        op: Op,
        ok_labels: frozenset[str],
        on_start: Callable[[], None] | None = None,
    ) -> tuple[LoadResult, CpuUse]:
        if self.warmup_s > 0:
            await closed_loop(
                key,
                op,
                ok_labels=ok_labels,
                concurrency=self.concurrency,
                duration_s=self.warmup_s,
                quiet=True,
            )
        pids = self.service.pids() if self.service is not None else []

        async def measured() -> LoadResult:
            if on_start is not None:
                on_start()
            return await closed_loop(
                key,
                op,
                ok_labels=ok_labels,
                concurrency=self.concurrency,
                duration_s=self.duration_s,
            )

        result, cpu, _, _ = await cpu_window(pids, self.redis_cpu_seconds, measured)
        print(
            f"    done: {result.ok / max(result.duration_s, 1e-9):,.0f} ok/s, "
            f"{result.calls:,} calls, outcomes {dict(result.outcomes.most_common())}",
            flush=True,
        )
        return result, cpu


async def forget_concerts(redis: RedisClient, concert_ids: list[str]) -> None:
    """Delete the seat state the bench created (matters when --redis-url is a shared server)."""
    for concert_id in concert_ids:
        for key in concert_keys(concert_id)[:5]:
            await redis.delete(key)
        await redis.zrem(ACTIVE_CONCERTS_KEY, concert_id)


# --- phase 1: the engine, in process -------------------------------------------------------


async def engine_phase(rig: Rig, report: Report, seats: int, run_id: str) -> None:
    engine = SeatEngine(rig.redis)
    opened: list[str] = []

    async def open_venue() -> tuple[str, list[int]]:
        concert_id = f"bench-{run_id}-engine-{len(opened) + 1}"
        opened.append(concert_id)
        await engine.load(concert_id, "A" * seats, {}, {})
        return concert_id, list(range(seats))

    pool: SeatPool[int] = SeatPool(open_venue)
    ttl_ms = HOLD_TTL_SECONDS * 1000

    async def hold() -> tuple[str, int]:
        concert_id, index, n = await pool.take()
        outcome = await engine.hold(
            concert_id, f"{concert_id}.{n}", f"bench-user-{n}", [index], cap=CAP, ttl_ms=ttl_ms
        )
        return type(outcome).__name__, 0

    title = "SeatEngine.hold (Lua, in process)"
    try:
        await hold_phase(rig, report, "engine", title, hold, "Held", pool)
    finally:
        await forget_concerts(rig.redis, opened)


async def hold_phase(
    rig: Rig, report: Report, key: str, title: str, hold: Op, ok: str, pool: SeatPool[Any]
) -> None:
    """A phase of holds (`ok`: the outcome of a hold made) on the seats `pool` hands out
    (closed at the end): holds/s, and how many venues it opened."""
    rig.announce(f"{key}: {title}")
    try:
        result, cpu = await rig.measure(key, hold, frozenset({ok}))
    finally:
        await pool.close()
    extra = {"venues_used": pool.venues}
    report.phases.append(phase_report(key, title, "holds/s", result, cpu, sized=False, extra=extra))


# --- the HTTP phases -------------------------------------------------------------------------


def concert_payload(
    seats: int, number: int, *, cap: int = 8, seats_per_row: int = 100, rows_per_section: int = 100
) -> dict[str, Any]:
    """Sections of `rows_per_section` rows of `seats_per_row` seats, one short row for the rest,
    on sale since an hour ago."""
    sections: list[dict[str, Any]] = []
    rows, rest = divmod(seats, seats_per_row)
    while rows > 0:
        take = min(rows, rows_per_section)
        sections.append({"rows": take, "seats_per_row": seats_per_row})
        rows -= take
    if rest:
        sections.append({"rows": 1, "seats_per_row": rest})
    for n, section in enumerate(sections, start=1):
        section.update(name=f"Block {n}", price_cents=4000 + 500 * n)
    now = datetime.now(UTC)
    return {
        "title": f"Benchmark on-sale {number}",
        "artist": "The Load Generators",
        "genre": "benchmark",
        "venue": {"name": "Bench Arena", "city": "Benchville"},
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "on_sale_at": (now - timedelta(hours=1)).isoformat(),
        "currency": "EUR",
        "max_tickets_per_user": cap,
        "sections": sections,
    }


def concert_body(seats: int, number: int) -> dict[str, Any]:
    """Sections of 100 rows x 100 seats, and one short row for any remainder."""
    return concert_payload(
        seats, number, cap=CAP, seats_per_row=SEATS_PER_ROW, rows_per_section=ROWS_PER_SECTION
    )


class ServiceSetupError(BenchError):
    pass


def expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise ServiceSetupError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def rows_of(concert: dict[str, Any]) -> list[list[str]]:
    """Each row's seat ids (the API sends a row as a count of seats numbered from 1)."""
    return [
        [f"{sec['id']}-{row['label']}-{n}" for n in range(1, row["count"] + 1)]
        for sec in concert["sections"]
        for row in sec["rows"]
    ]


def seat_ids_of(concert: dict[str, Any]) -> list[str]:
    return [seat for row in rows_of(concert) for seat in row]


async def admin_headers(client: httpx.AsyncClient, admin: tuple[str, str]) -> dict[str, str]:
    """The Authorization header of the admin account (email, password) the server bootstraps."""
    email, password = admin
    login = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {expect(login, 200, 'admin login')['access_token']}"}


async def create_and_warm(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any], what: str
) -> tuple[dict[str, Any], dict[str, float]]:
    """A concert created (`what` names the step in an error) and warmed through the API: the
    concert, and the seconds each step took (create_s, warm_s)."""
    t0 = time.perf_counter()
    concert = expect(await client.post(f"{API}/concerts", json=body, headers=headers), 201, what)
    t1 = time.perf_counter()
    warm = await client.post(f"{API}/concerts/{concert['id']}/warm", headers=headers)
    expect(warm, 200, "warm concert")
    return concert, {"create_s": round(t1 - t0, 3), "warm_s": round(time.perf_counter() - t1, 3)}


def mint_tokens(settings: Settings, count: int, prefix: str = "bench-user") -> list[str]:
    """Access tokens of `count` distinct buyers (`prefix`-0, -1 ...), signed with the server's
    key: holds need a valid token, not a user row (signing up thousands of users would be
    argon2-bound)."""
    tokens = TokenService(settings)
    return [tokens.issue("access", f"{prefix}-{n}", "user").token for n in range(count)]


@dataclass(frozen=True)
class HttpSetup:
    service: ServiceProcess
    settings: Settings
    admin: tuple[str, str]
    client_kind: str
    seats: int
    phases: list[str]


async def http_phases(rig: Rig, report: Report, setup: HttpSetup) -> None:
    """Setup calls go through httpx (not measured); measured calls through `setup.client_kind`."""
    created: list[str] = []
    service = setup.service
    load = make_client(setup.client_kind, "127.0.0.1", service.port, rig.concurrency)
    try:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60.0) as admin_client:
            await _http_phases(rig, report, setup, admin_client, load, created)
    finally:
        await load.aclose()
        await forget_concerts(rig.redis, created)


async def _http_phases(
    rig: Rig,
    report: Report,
    setup: HttpSetup,
    admin_client: httpx.AsyncClient,
    load: HttpClient,
    created: list[str],
) -> None:
    phases, seats = setup.phases, setup.seats
    print("  setup: uvicorn starting ...", flush=True)
    report.setup["server_ready_s"] = round(await setup.service.wait_ready(), 2)

    t0 = time.perf_counter()
    headers = await admin_headers(admin_client, setup.admin)
    report.setup["admin_login_s"] = round(time.perf_counter() - t0, 3)

    async def open_venue() -> tuple[str, list[str]]:
        body = concert_body(seats, len(created) + 1)
        concert, timings = await create_and_warm(admin_client, headers, body, "create concert")
        created.append(concert["id"])
        seat_ids = seat_ids_of(concert)
        report.setup.setdefault("venues", []).append(
            {"concert_id": concert["id"], "seats": len(seat_ids), **timings}
        )
        return concert["id"], seat_ids

    map_concert, map_seats = await open_venue()
    venue = report.setup["venues"][0]
    print(
        f"  setup: ready in {report.setup['server_ready_s']} s; {seats:,}-seat concert created in "
        f"{venue['create_s']} s, warmed in {venue['warm_s']} s",
        flush=True,
    )
    live_seats, map_seats = map_seats[:LIVE_SEATS], map_seats[LIVE_SEATS:]

    buyers: list[str] = []
    if "holds" in phases:
        t0 = time.perf_counter()
        buyers = mint_tokens(setup.settings, seats)
        report.setup["tokens_minted"] = len(buyers)
        report.setup["tokens_mint_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"  setup: minted {len(buyers):,} buyer access tokens in "
            f"{report.setup['tokens_mint_s']} s (no signups)",
            flush=True,
        )

    if "healthz" in phases:

        async def healthz() -> tuple[str, int]:
            status, body = await load.request("GET", "/healthz")
            return str(status), len(body)

        title = "GET /healthz"
        rig.announce(f"healthz: {title}")
        result, cpu = await rig.measure("healthz", healthz, frozenset({"200"}))
        report.phases.append(phase_report("healthz", title, "req/s", result, cpu, sized=True))

    if "holds" in phases:
        pool: SeatPool[str] = SeatPool(open_venue, first=(map_concert, map_seats))

        async def hold() -> tuple[str, int]:
            concert_id, seat_id, n = await pool.take()
            body = json.dumps({"seat_ids": [seat_id]}).encode()
            status, reply = await load.request(
                "POST", f"{API}/concerts/{concert_id}/holds", body, buyers[n]
            )
            return str(status), len(reply)

        title = "POST /concerts/{id}/holds (1 seat)"
        await hold_phase(rig, report, "holds", title, hold, "201", pool)

    seat_map_path = f"{API}/concerts/{map_concert}/seats"
    versions: set[int] = set()

    async def read_map() -> tuple[str, int]:
        status, body = await load.request("GET", seat_map_path)
        if status == 200:
            match = _VERSION.search(body, 0, 256)
            if match:
                versions.add(int(match.group(1)))
        return str(status), len(body)

    if "seats-static" in phases:
        title = "GET /concerts/{id}/seats, static"
        rig.announce(f"seats-static: {title}")
        versions.clear()
        result, cpu = await rig.measure("seats-static", read_map, frozenset({"200"}))
        report.phases.append(
            phase_report(
                "seats-static",
                title,
                "reads/s",
                result,
                cpu,
                sized=True,
                extra={"versions_seen": len(versions)},
            )
        )

    if "seats-live" in phases:
        title = "GET /concerts/{id}/seats, live (1 writer)"
        rig.announce(f"seats-live: {title}")
        token = TokenService(setup.settings).issue("access", "bench-live-writer", "user").token
        writer_client = make_client(setup.client_kind, "127.0.0.1", setup.service.port, 1)
        writer = LiveWriter(writer_client, token, map_concert, live_seats)
        writer.start()
        try:
            # The writer runs through the warm-up too; its counters restart with the phase.
            def restart_counters() -> None:
                writer.stats.clear()
                versions.clear()

            result, cpu = await rig.measure(
                "seats-live", read_map, frozenset({"200"}), on_start=restart_counters
            )
        finally:
            stats = await writer.stop()
            await writer_client.aclose()
        wall = max(result.duration_s, 1e-9)
        holds_made = stats.get("held", 0)
        report.phases.append(
            phase_report(
                "seats-live",
                title,
                "reads/s",
                result,
                cpu,
                sized=True,
                extra={
                    "versions_seen": len(versions),
                    "writer": dict(stats),
                    "writer_holds_per_s": round(holds_made / wall, 1),
                    "writer_changes_per_s": round(
                        (holds_made + stats.get("released", 0)) / wall, 1
                    ),
                },
            )
        )


class LiveWriter:
    """One task that holds a seat of the map venue and releases it again, back to back, on
    its own connection: every hold and every release is a new seat-map version."""

    def __init__(
        self, client: HttpClient, token: str, concert_id: str, seat_ids: list[str]
    ) -> None:
        self._client = client
        self._token = token
        self._holds_path = f"{API}/concerts/{concert_id}/holds"
        self._seats = seat_ids
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats: Counter[str] = Counter()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> Counter[str]:
        self._stop.set()
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=35)  # > one request's timeout
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=5)
                self.stats["writer_stopped_by_timeout"] += 1
            elif task.exception() is not None:
                self.stats[f"writer_crashed_{type(task.exception()).__name__}"] += 1
        return self.stats

    async def _run(self) -> None:
        for seat_id in itertools.cycle(self._seats):
            if self._stop.is_set():
                return
            try:
                body = json.dumps({"seat_ids": [seat_id]}).encode()
                status, reply = await self._client.request(
                    "POST", self._holds_path, body, self._token
                )
                if status != 201:
                    self.stats[f"hold_{status}"] += 1
                    await asyncio.sleep(0.01)
                    continue
                self.stats["held"] += 1
                hold_id = json.loads(reply)["id"]
                status, _ = await self._client.request(
                    "DELETE", f"{API}/holds/{hold_id}", token=self._token
                )
                self.stats["released" if status == 204 else f"release_{status}"] += 1
            except (OSError, asyncio.IncompleteReadError, ProtocolError, httpx.HTTPError) as exc:
                self.stats[f"error_{type(exc).__name__}"] += 1
                await asyncio.sleep(0.05)


# --- orchestration ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Hold throughput and seat-map reads of the Encore service (figures only).",
    )
    parser.add_argument("--seats", type=int, default=50_000, help="seats per venue (<= 100000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds before each phase"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent requests")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--redis-url",
        default=None,
        help="use this Redis (e.g. redis://127.0.0.1:6379/15) instead of a private "
        "redis-server; the bench deletes the seat state it created, nothing else",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="HTTP client of the measured calls: a minimal keep-alive client (raw, default) or "
        "httpx, whose pool costs milliseconds of CPU per request at high concurrency",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of: {', '.join(PHASES)}",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results (default bench/results/holds-*.json)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seats <= 100_000:
        parser.error("--seats must be between 1 and 100000 (the API's limit)")
    if args.seats <= LIVE_SEATS and "seats-live" in args.phases:
        parser.error(f"--seats must be above {LIVE_SEATS} for the seats-live phase")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup not negative")
    if not 1 <= args.concurrency <= 10_000 or not 1 <= args.workers <= 64:
        parser.error("--concurrency must be 1..10000 and --workers 1..64")
    chosen = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PHASES))
    if unknown or not chosen:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")
    args.phases = [p for p in PHASES if p in chosen]
    return args


def event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


async def redis_facts(url: str) -> dict[str, Any]:
    client = build_redis(url, 5.0, 2)
    try:
        info = await client.info("server")
        return {
            "redis_version": info.get("redis_version"),
            "valkey_version": info.get("valkey_version"),
            "redis_mode": info.get("redis_mode"),
        }
    finally:
        await client.aclose()


def environment_facts(loop_name: str) -> dict[str, Any]:
    """Versions and machine facts every result file records."""
    return {
        "python": platform.python_version(),
        "cpus": cpu_count(),
        "machine": platform.machine(),
        "bench_event_loop": loop_name,
        "uvicorn": package_version("uvicorn"),
        "uvicorn_loop_http": "auto: "
        + ("uvloop" if package_version("uvloop") else "asyncio")
        + " / "
        + ("httptools" if package_version("httptools") else "h11"),
        "httpx": package_version("httpx"),
        "redis_py": package_version("redis"),
        "psutil": package_version("psutil"),
        "git": git_revision(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = secrets.token_hex(3)
    report = Report.begin(
        {
            "seats": args.seats,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "client": args.client,
            "phases": args.phases,
            "max_tickets_per_user": CAP,
            "hold_ttl_s": HOLD_TTL_SECONDS,
            "store": "sql (SQLite file in a temp dir)",
            "sweeper_in_process": True,
            "redis": "external" if args.redis_url else "private redis-server",
        }
    )
    print(
        f"Encore hold benchmark: {args.seats:,} seats, {args.concurrency} concurrent, "
        f"{args.workers} uvicorn worker(s), {args.duration:g} s per phase, phases "
        f"{', '.join(args.phases)}",
        flush=True,
    )

    def run(frame: Frame) -> None:
        run_phases(args, report, frame.runner, frame.stack, frame.workdir, frame.redis_url, run_id)

    def finish() -> None:
        derive(report)
        print_report(report)

    return report_main(report, "holds", args.out, run, finish, redis_url=args.redis_url)


@dataclass(frozen=True)
class Frame:
    """What `report_main` has set up for a run."""

    stack: contextlib.ExitStack
    workdir: Path
    runner: asyncio.Runner
    redis_url: str


def report_main(
    report: Report,
    name: str,
    out: Path | None,
    run: Callable[[Frame], None],
    finish: Callable[[], None],
    *,
    redis_url: str | None = None,
) -> int:
    """The frame of holds.py and waiting_room.py: SIGTERM as Ctrl-C, a temp dir, a private
    redis-server (unless `redis_url`), an event loop (uvloop when installed), `run`, then
    `finish` (derive, print) and the JSON result. Answers the exit status: 2 without
    redis-server, 1 when the set-up failed, 130 when interrupted."""
    signal.signal(signal.SIGTERM, interrupt)
    loop_factory, _ = event_loop_factory()
    try:
        with contextlib.ExitStack() as stack:
            workdir = temp_workdir(stack)
            if redis_url is None:
                private = stack.enter_context(PrivateRedis(workdir))
                redis_url = private.url
                print(f"  setup: private {private.binary} on port {private.port}", flush=True)
            runner = stack.enter_context(asyncio.Runner(loop_factory=loop_factory))
            report.environment.update(runner.run(redis_facts(redis_url)))
            run(Frame(stack, workdir, runner, redis_url))
    except RedisServerNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ServiceSetupError as exc:
        print(f"error: the service refused the bench setup: {exc}", file=sys.stderr)
        return 1
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: the server and the private redis were stopped; no results written")
        return 130
    finish()
    print(f"\nJSON: {write_json(asdict(report), name, out)}")
    return 0


def start_service(
    stack: contextlib.ExitStack, config: ServerConfig, workers: int, workdir: Path
) -> ServiceProcess:
    """The service with `config`, stopped when `stack` closes (also after a failed start)."""
    service = ServiceProcess(config.env, workers, workdir / "uvicorn.log")
    stack.callback(service.stop)  # registered first: a failed start still stops it
    return service.start()


@contextlib.contextmanager
def log_on_refusal(service: ServiceProcess) -> Iterator[None]:
    """The tail of the server's log on stderr when the service refused the bench setup."""
    try:
        yield
    except ServiceSetupError:
        print(tail(service.log_path), file=sys.stderr)
        raise


@dataclass(frozen=True)
class ServerConfig:
    """How a bench starts the service: its environment, the same settings as a `Settings`
    (to mint tokens with the server's key) and the admin account the server bootstraps."""

    env: dict[str, str]
    settings: Settings
    admin: tuple[str, str]
    # Settings the server takes from this process's environment (e.g. a tuning experiment:
    # `CONCERT_CACHE_TTL_SECONDS=60 .venv/bin/python bench/holds.py`).
    inherited: dict[str, str]

    def record(self, report: Report) -> None:
        """Put the server's environment (secrets left out) in the report, and say what else
        it reads."""
        secret_names = ("JWT_SECRET", "JWT_PREVIOUS_SECRETS", "ADMIN_PASSWORD")
        report.settings["server_env"] = {k: v for k, v in self.env.items() if k not in secret_names}
        report.settings["server_env_inherited"] = {
            k: ("***" if "SECRET" in k or "PASSWORD" in k or "KEY" in k else v)
            for k, v in self.inherited.items()
        }
        if self.inherited:
            print(
                f"  setup: the server also inherits {sorted(self.inherited)} from this environment"
            )
        if (REPO_ROOT / ".env").exists():
            report.notes.append(
                f"{REPO_ROOT / '.env'} exists: the server reads it too (the variables above win)."
            )


def server_config(workdir: Path, redis_url: str) -> ServerConfig:
    """APP_ENV=test, SQLite in `workdir`, a random JWT secret, rate limits off (unless
    RATE_LIMIT_ENABLED is set here), holds that outlive the run."""
    secret = secrets.token_urlsafe(36)  # 48 characters
    settings = Settings(
        app_env="test",
        jwt_secret=SecretStr(secret),
        jwt_kid="bench",
        jwt_previous_secrets="",
        access_token_ttl_seconds=86_400,
    )
    admin = ("bench-admin@example.com", secrets.token_urlsafe(18))
    env = {
        "APP_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "STORE": "sql",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "DB_AUTO_MIGRATE": "true",
        "DATA_DIR": str(workdir / "data"),
        "REDIS_URL": redis_url,
        "ADMIN_EMAIL": admin[0],
        "ADMIN_PASSWORD": admin[1],
        "JWT_SECRET": secret,
        "JWT_KID": settings.jwt_kid,
        "JWT_PREVIOUS_SECRETS": "",
        "JWT_ISSUER": settings.jwt_issuer,
        "JWT_AUDIENCE": settings.jwt_audience,
        "ACCESS_TOKEN_TTL_SECONDS": str(settings.access_token_ttl_seconds),
        "SWEEPER_IN_PROCESS": "true",
        "HOLD_TTL_SECONDS": str(HOLD_TTL_SECONDS),
        "SEED_DEMO": "false",
        # One client address sends every request: the per-IP limits would refuse the run.
        # Set RATE_LIMIT_ENABLED=true (and high RATE_LIMIT_* values) to measure the limiter.
        "RATE_LIMIT_ENABLED": os.environ.get("RATE_LIMIT_ENABLED", "false"),
    }
    inherited = {
        name.upper(): os.environ[name.upper()]
        for name in Settings.model_fields
        if name.upper() in os.environ and name.upper() not in env
    }
    return ServerConfig(env, settings, admin, inherited)


def run_phases(
    args: argparse.Namespace,
    report: Report,
    runner: asyncio.Runner,
    stack: contextlib.ExitStack,
    workdir: Path,
    redis_url: str,
    run_id: str,
) -> None:
    http = [p for p in args.phases if p in HTTP_PHASES]
    steps = Steps(len(args.phases))
    if "engine" in args.phases:
        runner.run(_engine(args, report, redis_url, run_id, steps))

    if not http:
        return
    config = server_config(workdir, redis_url)
    config.record(report)
    service = start_service(stack, config, args.workers, workdir)
    with log_on_refusal(service):
        setup = HttpSetup(service, config.settings, config.admin, args.client, args.seats, http)
        runner.run(_http(args, report, setup, redis_url, steps))
    failures = sum(
        n for p in report.phases for label, n in p.outcomes.items() if label.startswith("error")
    ) + sum(
        n
        for p in report.phases
        for label, n in p.outcomes.items()
        if label.isdigit() and int(label) >= 500
    )
    if failures:
        report.notes.append(f"{failures} calls failed (5xx or transport errors); server log tail:")
        report.notes.append(tail(service.log_path, 15))


async def _engine(
    args: argparse.Namespace, report: Report, redis_url: str, run_id: str, steps: Steps
) -> None:
    redis = build_redis(redis_url, 10.0, args.concurrency + 8)
    try:
        rig = Rig(args.concurrency, args.duration, args.warmup, redis, steps)
        await engine_phase(rig, report, args.seats, run_id)
    finally:
        await redis.aclose()


async def _http(
    args: argparse.Namespace, report: Report, setup: HttpSetup, redis_url: str, steps: Steps
) -> None:
    redis = build_redis(redis_url, 10.0, 4)
    try:
        rig = Rig(args.concurrency, args.duration, args.warmup, redis, steps, setup.service)
        await http_phases(rig, report, setup)
    finally:
        await redis.aclose()


def cpu_count() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# --- the printed summary ---------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def derive(report: Report) -> None:
    """Ratios between phases, and the notes every reader of the figures needs."""
    holds, healthz = report.phase("holds"), report.phase("healthz")
    engine = report.phase("engine")
    static, live = report.phase("seats-static"), report.phase("seats-live")
    if holds and healthz and healthz.requests_per_s:
        report.derived["holds_per_s_over_healthz_req_per_s"] = round(
            holds.ok_per_s / healthz.requests_per_s, 3
        )
    if holds and engine and engine.ok_per_s:
        report.derived["http_holds_per_s_over_engine_holds_per_s"] = round(
            holds.ok_per_s / engine.ok_per_s, 3
        )
    if engine and engine.cpu_us_per_call["redis"]:
        # What one Redis core could do if only the Lua hold ran on it.
        report.derived["redis_bound_holds_per_s_estimate"] = round(
            1e6 / engine.cpu_us_per_call["redis"]
        )
    if static and live and static.ok_per_s:
        report.derived["live_reads_per_s_over_static_reads_per_s"] = round(
            live.ok_per_s / static.ok_per_s, 3
        )
    report.note_disturbed(
        "those figures are lower than an undisturbed run's; run again when the machine is idle."
    )
    cpus = report.environment["cpus"]
    report.notes[:0] = [
        "ok/s = holds/s (HTTP 201, engine Held) or successful reads/s; latency is per call, "
        "whatever the outcome. bench%, server%, redis% = CPU time over the phase as % of ONE "
        "core (bench = this Python load generator, server = uvicorn and its workers, redis = "
        "INFO used_cpu_*), other = machine busy time none of them explains (another process "
        "on the machine when well above 10); machine% = busy share of all cores.",
        f"This machine has {cpus} CPUs shared by the load generator, uvicorn and Redis: every "
        "core-second the Python client spends (bench%) is taken from the server, so the HTTP "
        "figures are lower bounds of what the service would do with the machine to itself.",
    ]


_RATIO_LABELS = {
    "holds_per_s_over_healthz_req_per_s": "holds/s / healthz req/s",
    "http_holds_per_s_over_engine_holds_per_s": "HTTP holds/s / engine holds/s",
    "live_reads_per_s_over_static_reads_per_s": "live map reads/s / static map reads/s",
    "redis_bound_holds_per_s_estimate": "holds/s one Redis core could do (1 s / its CPU per "
    "engine hold)",
}


def _client_name(cfg: dict[str, Any], env: dict[str, Any]) -> str:
    if cfg["client"] == "httpx":
        return f"httpx {env['httpx']} client"
    return "raw keep-alive HTTP/1.1 client (bench/rawhttp.py)"


# The CPU columns of a phase table (see the notes for what they mean).
CPU_HEADER = f"{'bench%':>6} {'server%':>7} {'redis%':>6} {'other%':>6} {'machine%':>8}"


def cpu_columns(cpu: CpuUse) -> str:
    return (
        f"{fmt(cpu.bench_pct):>6} {fmt(cpu.server_pct):>7} {fmt(cpu.redis_pct):>6} "
        f"{fmt(cpu.other_pct):>6} {fmt(cpu.machine_busy_pct):>8}"
    )


def print_cpu_per_call(phases: Iterable[PhaseReport], width: int, column: int) -> None:
    """The table of CPU per call: phase titles `width` wide, figures `column` wide."""
    print()
    print(
        f"{'CPU per call, microseconds':<{width}} {'bench':>{column}} {'server':>{column}} "
        f"{'redis':>{column}}"
    )
    for p in phases:
        us = p.cpu_us_per_call
        print(
            f"{p.title[:width]:<{width}} {fmt(us['bench']):>{column}} "
            f"{fmt(us['server']):>{column}} {fmt(us['redis']):>{column}}"
        )


def print_report(report: Report) -> None:
    env, cfg = report.environment, report.settings
    print()
    print(report.server_line(f"sweeper in process, hold TTL {cfg['hold_ttl_s']} s"))
    if cfg.get("server_env_inherited"):
        print(f"        plus from the environment: {cfg['server_env_inherited']}")
    print(
        f"Load:   {cfg['concurrency']} concurrent, {cfg['duration_s']:g} s per phase after "
        f"{cfg['warmup_s']:g} s warm-up; {cfg['seats']:,}-seat venue; {_client_name(cfg, env)} "
        f"on {env['bench_event_loop']}; {env['cpus']} CPUs; Python {env['python']}"
    )
    print()
    header = (
        f"{'phase':<42} {'ok/s':>8} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'bytes':>7} {CPU_HEADER}"
    )
    print_header(header)
    for p in report.phases:
        lat = p.latency_ms
        print(
            f"{p.title[:42]:<42} {fmt(p.ok_per_s):>8} {fmt(p.requests_per_s):>8} "
            f"{fmt(lat.get('p50'), 2):>7} {fmt(lat.get('p95'), 2):>7} "
            f"{fmt(lat.get('p99'), 2):>7} {fmt(p.bytes_per_response):>7} {cpu_columns(p.cpu)}"
        )
    print_cpu_per_call(report.phases, 42, 8)
    print()
    for p in report.phases:
        flag = "  ABORTED: nothing succeeded" if p.aborted else ""
        outcomes = " ".join(f"{k}={v:,}" for k, v in p.outcomes.items())
        extra = " ".join(f"{k}={v}" for k, v in p.extra.items() if k != "writer")
        print(f"  {p.key:<13} {p.calls:,} calls: {outcomes}  {extra}{flag}".rstrip())
        if "writer" in p.extra:
            writer = " ".join(f"{k}={v:,}" for k, v in p.extra["writer"].items())
            print(f"  {'':<13} background writer: {writer}")
    if report.derived:
        print()
        for key, value in report.derived.items():
            shown = f"{value:,}" if isinstance(value, int) else f"{value:.2f}"
            print(f"  {_RATIO_LABELS.get(key, key)} = {shown}")
    print()
    for note in report.notes:
        print(f"  note: {note}" if "\n" not in note else note)


if __name__ == "__main__":
    sys.exit(main())

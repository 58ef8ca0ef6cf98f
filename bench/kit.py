"""Shared set-up of the on-sale benchmarks (ratio, openloop, burst, stadium, fanout).

One `Stack` per run: a temp dir, a private redis-server, optionally a dedicated PostgreSQL
database (dropped and created again), the service under uvicorn with the settings of the run,
the admin's token, concert creation. `Meter` measures a window: CPU of this process, of the
load generator's child processes (wrk), of the server, of Redis and of PostgreSQL, and what
else kept the machine busy. `run_wrk` drives wrk with a Lua script. `Results` prints the
settings and writes the JSON. Figures are for people; nothing here passes or fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness import (
    REPO_ROOT,
    BenchError,
    CpuUse,
    PrivateRedis,
    ProcessWatch,
    ServiceProcess,
    command_line,
    cpu_sample,
    latency_ms,
    processes_cpu_seconds,
    redis_cpu_seconds,
    tail,
    temp_workdir,
    utc_now,
    write_json,
)
from holds import (
    API,
    admin_headers,
    concert_payload,
    create_and_warm,
    environment_facts,
    event_loop_factory,
    fmt,
    interrupt,
    mint_tokens,
    package_version,
    redis_facts,
    seat_ids_of,
    server_config,
)

from app.platform.redis import RedisClient, build_redis
from app.settings import Settings

__all__ = [
    "API",
    "REPO_ROOT",
    "BenchError",
    "Meter",
    "Results",
    "Stack",
    "Window",
    "add_server_args",
    "concert_payload",
    "fmt",
    "latency_summary",
    "main_guard",
    "run_wrk",
    "seat_ids_of",
]

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
# The rate limits stay on (production's hot path) but out of reach of one client address.
_HIGH_LIMIT = "100000000/minute"
_NO_HIREDIS = "import sys\nraise ImportError('hiredis disabled by the benchmark (--no-hiredis)')\n"


def add_server_args(
    parser: argparse.ArgumentParser, *, workers: int = 2, store: str = "sqlite"
) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=workers,
        help=f"uvicorn workers (default {workers}: one per core, the recommended count)",
    )
    parser.add_argument(
        "--store", choices=("sqlite", "postgres"), default=store, help="the durable store"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_POSTGRES_URL", PG_DEFAULT),
        help="PostgreSQL server for --store postgres; the bench drops and creates its own "
        "database `encore_bench` there (default TEST_POSTGRES_URL or " + PG_DEFAULT + ")",
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="RATE_LIMIT_ENABLED=false (default: on, with per-IP/per-user limits out of reach)",
    )
    parser.add_argument(
        "--no-hiredis",
        action="store_true",
        help="hide the hiredis parser from the server (redis-py's pure-Python parser)",
    )
    parser.add_argument(
        "--server-root",
        type=Path,
        default=REPO_ROOT,
        help="run the server from this copy of the code (a before/after comparison)",
    )
    parser.add_argument(
        "--launcher",
        choices=["serve", "uvicorn"],
        default="serve",
        help="serve: `python -m app.serve`, a socket per worker (default, recommended); "
        "uvicorn: `uvicorn --workers N`, one socket shared by the workers",
    )
    parser.add_argument("--out", type=Path, default=None, help="where the JSON goes")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the server's workers with py-spy during the measured window (collapsed "
        "stacks in this directory; sampling costs the server some CPU)",
    )


# --- the stack: redis, postgres, the service ------------------------------------------------


class Stack:
    """Everything a run needs, started in `__enter__`-like `start()` and stopped by the
    ExitStack it is given (also on Ctrl-C or a failure)."""

    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
        self.args = args
        self._stack = stack
        self.workdir = temp_workdir(stack)
        self.redis_server = stack.enter_context(PrivateRedis(self.workdir))
        self.redis_url = self.redis_server.url
        self.database_url = f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}"
        self.pg_dsn: str | None = None
        if args.store == "postgres":
            self.pg_dsn = _fresh_postgres(args.postgres_url, "encore_bench")
            self.database_url = self.pg_dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        config = server_config(self.workdir, self.redis_url)
        self.settings: Settings = config.settings
        self.admin = config.admin
        self.webhook_secret = "whsec_" + secrets.token_urlsafe(32)
        env = dict(config.env)
        env.update(
            DATABASE_URL=self.database_url,
            STRIPE_WEBHOOK_SECRET=self.webhook_secret,
            RATE_LIMIT_ENABLED="false" if args.no_rate_limits else "true",
            RATE_LIMIT_DEFAULT_PER_IP=_HIGH_LIMIT,
            RATE_LIMIT_PER_USER=_HIGH_LIMIT,
            RATE_LIMIT_HOLDS_PER_USER=_HIGH_LIMIT,
            RATE_LIMIT_AUTH_PER_IP=_HIGH_LIMIT,
            RATE_LIMIT_LOGIN_PER_EMAIL=_HIGH_LIMIT,
            RATE_LIMIT_QUEUE_JOIN_PER_IP=_HIGH_LIMIT,
            # Every listener of bench/fanout.py comes from 127.0.0.1, and a phase must not see
            # streams end and reconnect (their lifetime) halfway.
            SSE_MAX_STREAMS_PER_IP="0",
            SSE_MAX_STREAM_SECONDS="0",
        )
        if args.no_hiredis:
            stub = self.workdir / "nohiredis" / "hiredis"
            stub.mkdir(parents=True)
            (stub / "__init__.py").write_text(_NO_HIREDIS)
            env["PYTHONPATH"] = str(stub.parent)
        self.env = env
        self.inherited = config.inherited
        log_path = self.workdir / "server.log"
        self.service = ServiceProcess(env, args.workers, log_path, args.launcher)
        self.service_root: Path = args.server_root.resolve()
        self.service.root = self.service_root
        stack.callback(self.service.stop)
        self.redis: RedisClient | None = None
        self.admin_headers: dict[str, str] = {}
        self.concerts = 0

    def settings_facts(self) -> dict[str, Any]:
        hidden = ("JWT_SECRET", "ADMIN_PASSWORD", "STRIPE_WEBHOOK_SECRET")
        return {
            "workers": self.args.workers,
            "launcher": self.service.launched_by(),
            "store": "postgresql (database encore_bench, fresh)"
            if self.pg_dsn
            else "sql (SQLite file in a temp dir)",
            "redis": f"private redis-server {self.redis_server.binary}",
            "rate_limits": "off" if self.args.no_rate_limits else "on, limits out of reach",
            "hiredis": "hidden" if self.args.no_hiredis else package_version("hiredis") or "absent",
            "server_root": str(self.service_root),
            "server_env": {k: v for k, v in self.env.items() if k not in hidden},
            "server_env_inherited": {
                k: ("***" if any(w in k for w in ("SECRET", "PASSWORD", "KEY")) else v)
                for k, v in self.inherited.items()
            },
        }

    async def start(self) -> float:
        self.service.start()
        ready = await self.service.wait_ready(60)
        self.redis = build_redis(self.redis_url, 10.0, 4)
        async with self.http() as client:
            self.admin_headers = await admin_headers(client, self.admin)
        return ready

    async def stop(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    @contextlib.asynccontextmanager
    async def http(self) -> Any:
        async with httpx.AsyncClient(base_url=self.service.base_url, timeout=120.0) as client:
            yield client

    async def create_concert(self, seats: int, *, cap: int = 8, **layout: int) -> dict[str, Any]:
        """Create and warm a concert through the API (as the admin)."""
        self.concerts += 1
        body = concert_payload(seats, self.concerts, cap=cap, **layout)
        async with self.http() as client:
            concert, _ = await create_and_warm(client, self.admin_headers, body, "create concert")
        return concert

    def tokens(self, count: int, prefix: str = "bench-user") -> list[str]:
        return mint_tokens(self.settings, count, prefix)

    def meter_rss(self) -> float:
        """Resident memory of the server (supervisor and workers), MB."""
        return _rss_mb(self.service.pids())

    @contextlib.contextmanager
    def profile(self, name: str) -> Iterator[None]:
        """py-spy on every worker (not the supervisor) while the block runs (--profile)."""
        directory: Path | None = getattr(self.args, "profile", None)
        if directory is None:
            yield
            return
        import signal

        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        directory.mkdir(parents=True, exist_ok=True)
        pids = self.service.pids()
        workers = pids[1:] if len(pids) > 1 else pids
        procs = [
            subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                 "-o", str(directory / f"{name}-{pid}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in workers
        ]  # fmt: skip
        try:
            yield
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                proc.wait(timeout=60)

    def meter(self) -> Meter:
        assert self.redis is not None
        return Meter(self.service, self.redis, self.pg_dsn is not None)


def _psql(url: str, sql: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        raise BenchError("psql is not on PATH (apt-get install postgresql-client)")
    done = subprocess.run(
        [psql, url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"psql {sql!r} failed: {done.stderr.strip()}")


def _fresh_postgres(server_url: str, database: str) -> str:
    """Drop and create `database` on the server; its URL."""
    base = server_url.rstrip("/")
    base = re.sub(r"^postgresql\+\w+://", "postgresql://", base)
    head, _, tail_part = base.partition("://")
    host_part = tail_part.split("/", 1)[0]
    admin_url = f"{head}://{host_part}/postgres"
    _psql(admin_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    _psql(admin_url, f"CREATE DATABASE {database}")
    return f"{head}://{host_part}/{database}"


def psql_query(dsn: str, sql: str) -> list[list[str]]:
    done = subprocess.run(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t", "-c", sql],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchError(f"psql {sql!r} failed: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


# --- measuring a window -----------------------------------------------------------------------


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres"):
                pids.append(int(entry.name))
    return pids


def _postmaster_reaped_cpu() -> float:
    """CPU seconds of the postmasters' exited children (backends that ended: connections
    closed by a pool), from /proc/<pid>/stat cutime + cstime; a live backend is not in it."""
    pids = set(_postgres_pids())
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) not in pids:  # its parent is not postgres: a postmaster
            total += (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    return total


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


@dataclass
class Window:
    """CPU over a measured window, as % of one core (100 = one core busy all the time)."""

    wall_s: float
    bench_pct: float
    generator_pct: float  # wrk or other child processes this bench waited for (0 if none)
    server_pct: float | None
    redis_pct: float
    postgres_pct: float | None
    other_pct: float | None
    machine_pct: float
    server_rss_mb: float
    others_top: list[str]

    def cpu_us_per(self, calls: int) -> dict[str, float | None]:
        def per(pct: float | None) -> float | None:
            if pct is None or calls <= 0:
                return None
            return round(pct / 100 * self.wall_s / calls * 1e6, 1)

        return {
            "bench": per(self.bench_pct),
            "generator": per(self.generator_pct),
            "server": per(self.server_pct),
            "redis": per(self.redis_pct),
            "postgres": per(self.postgres_pct),
        }


class Meter:
    """`async with meter:` around a window; `meter.window` afterwards. Children's CPU (wrk) is
    read from RUSAGE_CHILDREN: it counts the children this process waited for in the window."""

    def __init__(self, service: ServiceProcess, redis: RedisClient, postgres: bool) -> None:
        self._service = service
        self._redis = redis
        self._postgres = postgres
        self.window: Window | None = None

    async def _redis_cpu(self) -> float:
        return await redis_cpu_seconds(self._redis)

    async def __aenter__(self) -> Meter:
        self._pids = self._service.pids()
        self._pg_pids = _postgres_pids() if self._postgres else []
        self._watch = ProcessWatch(self._pids + self._pg_pids)
        self._watch.start()
        self._children = _children_cpu()
        self._pg = {pid: processes_cpu_seconds([pid]) for pid in self._pg_pids}
        self._pg_reaped = _postmaster_reaped_cpu() if self._postgres else 0.0
        self._before = await cpu_sample(self._pids, self._redis_cpu)
        return self

    async def __aexit__(self, *exc: object) -> None:
        after = await cpu_sample(self._pids, self._redis_cpu)
        children = _children_cpu() - self._children
        # Backends alive at the end: their CPU since the start (all of it if born since);
        # backends that exited during the window: what the postmaster reaped since the start
        # (the part of their CPU used before the window is counted too, a small overcount).
        pg_pids = _postgres_pids() if self._postgres else []
        pg = sum(processes_cpu_seconds([p]) - self._pg.get(p, 0.0) for p in pg_pids)
        if self._postgres:
            pg += _postmaster_reaped_cpu() - self._pg_reaped
        others = await self._watch.stop()
        rss = _rss_mb(self._service.pids())
        use = CpuUse.between(self._before, after, server_pids=self._pids, others_top=others)
        wall = max(after.wall - self._before.wall, 1e-9)
        gen_pct = 100 * children / wall
        pg_pct = 100 * pg / wall if self._postgres else None
        other = use.other_pct
        if other is not None:
            other = round(max(other - gen_pct - (pg_pct or 0.0), 0.0), 1)
        self.window = Window(
            wall_s=round(wall, 3),
            bench_pct=use.bench_pct,
            generator_pct=round(gen_pct, 1),
            server_pct=use.server_pct,
            redis_pct=use.redis_pct,
            postgres_pct=None if pg_pct is None else round(pg_pct, 1),
            other_pct=other,
            machine_pct=use.machine_busy_pct,
            server_rss_mb=rss,
            others_top=[o for o in others if not o.startswith(("wrk", "postgres"))],
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- wrk -----------------------------------------------------------------------------------------

_WRK_SUMMARY = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"bytes\\":%d,\\"non2xx\\":%d," ..
    "\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"timeout\\":%d," ..
    "\\"p50\\":%d,\\"p90\\":%d,\\"p99\\":%d,\\"p999\\":%d,\\"max\\":%d,\\"mean\\":%.1f}\\n",
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    non2xx: int
    errors: dict[str, int]
    latency_ms: dict[str, float]
    bytes: int

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx

    @property
    def rate(self) -> float:
        return self.requests / max(self.duration_s, 1e-9)


def run_wrk_blocking(
    url: str, lua: str, *, threads: int, connections: int, duration_s: float, workdir: Path
) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not on PATH: apt-get install -y wrk")
    script = workdir / f"wrk-{secrets.token_hex(4)}.lua"
    script.write_text(lua + _WRK_SUMMARY)
    command = [
        wrk,
        "-t", str(threads),
        "-c", str(connections),
        "-d", f"{duration_s:g}s",
        "--timeout", "30s",
        "-s", str(script),
        url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        non2xx=raw["non2xx"],
        errors={k: raw[k] for k in ("connect", "read", "write", "timeout") if raw[k]},
        latency_ms={k: round(raw[k] / 1000, 2) for k in ("p50", "p90", "p99", "p999", "max")}
        | {"mean": round(raw["mean"] / 1000, 2)},
        bytes=raw["bytes"],
    )


async def run_wrk(
    url: str, lua: str, *, threads: int, connections: int, duration_s: float, workdir: Path
) -> WrkResult:
    return await asyncio.to_thread(
        run_wrk_blocking,
        url,
        lua,
        threads=threads,
        connections=connections,
        duration_s=duration_s,
        workdir=workdir,
    )


def lua_lines(data_file: Path, method: str, threads: int) -> str:
    """A wrk script that sends one request per line of `data_file` ("path<TAB>token<TAB>body"),
    thread k of `threads` taking lines k, k + threads, ..., wrapping around when it runs out
    (a hold bench gives each thread more lines than it can send in the run)."""
    return f"""
local counter = 0
setup = function(thread)
  thread:set("tid", counter)
  thread:set("nthreads", {threads})
  counter = counter + 1
end
init = function(args)
  reqs = {{}}
  local n = 0
  for line in io.lines("{data_file}") do
    if n % nthreads == tid then
      local path, token, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
      local headers = {{}}
      if token ~= "" then headers["Authorization"] = "Bearer " .. token end
      if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
      table.insert(reqs, wrk.format("{method}", path, headers, body))
    end
    n = n + 1
  end
  i = 0
end
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
"""


# --- stats and results ----------------------------------------------------------------------------


def latency_summary(values_s: list[float]) -> dict[str, float]:
    return latency_ms(values_s, (50, 90, 99, 99.9), digits=2)


@dataclass
class Results:
    name: str
    command: str = field(default_factory=command_line)
    started_at: str = field(default_factory=utc_now)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    derived: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(self, out: Path | None) -> Path:
        return write_json(asdict(self), self.name, out)

    def print_settings(self) -> None:
        s = self.settings
        env = self.environment
        print()
        print(
            f"Server: uvicorn {env.get('uvicorn')} ({env.get('uvicorn_loop_http')}), "
            f"{s.get('workers')} worker(s) by {s.get('launcher')}, store {s.get('store')}, "
            "rate limits "
            f"{s.get('rate_limits')}, hiredis {s.get('hiredis')}, code {s.get('server_root')}"
        )
        print(
            f"Machine: {env.get('cpus')} CPUs, load average before the run "
            f"{env.get('loadavg_before')}, Python {env.get('python')}"
        )

    def print_notes(self) -> None:
        for note in self.notes:
            print(f"  note: {note}")

    def note_busy_phases(self) -> None:
        """`note_busy_neighbours` of rows that are phases."""
        self.note_busy_neighbours(lambda row: str(row["phase"]))

    def note_busy_neighbours(self, label: Callable[[dict[str, Any]], str]) -> None:
        """A note for each row whose window saw other processes use over a quarter core."""
        for row in self.rows:
            w: Window | None = row.get("window")
            if w is not None and (w.other_pct or 0) > 25:
                self.notes.append(
                    f"{label(row)}: other processes used {w.other_pct:.0f}% of a core "
                    f"({', '.join(w.others_top) or 'unknown'})"
                )


Run = Callable[[argparse.Namespace, "Stack", Results], Coroutine[Any, Any, None]]


def bench_main(
    name: str,
    args: argparse.Namespace,
    banner: str,
    settings: dict[str, Any],
    run: Run,
    derive: Callable[[Results], None],
    print_table: Callable[[Results], None],
) -> int:
    """The frame every on-sale bench shares: an event loop (uvloop when installed), the
    private stack (Redis, the service, PostgreSQL when asked), `run`, `derive` (figures and
    notes from the rows), then the summary (the settings, `print_table`, the notes) and the
    JSON result."""
    with main_guard(), contextlib.ExitStack() as exits:
        loop, loop_name = runner()
        exits.enter_context(loop)
        results = Results(name, environment=environment(loop_name))
        stack = Stack(args, exits)
        results.settings = {**stack.settings_facts(), **settings}
        print(banner, flush=True)
        loop.run(run(args, stack, results))
    derive(results)
    results.print_settings()
    print_table(results)
    results.print_notes()
    print(f"\nJSON: {results.write(args.out)}")
    return 0


def bench_parser(doc: str, **server_defaults: Any) -> argparse.ArgumentParser:
    """The command line of an on-sale bench: its docstring's first line, the server's options
    (`add_server_args`, with these defaults); the bench adds its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    add_server_args(parser, **server_defaults)
    return parser


def settings_of(args: argparse.Namespace, *options: str) -> dict[str, Any]:
    """The options a result file records, in this order: each `name` (the option's value under
    its own name) or `key=name` (under another)."""
    out: dict[str, Any] = {}
    for option in options:
        key, _, name = option.partition("=")
        out[key] = getattr(args, name or key)
    return out


def window_columns(w: Window | None) -> str:
    if w is None:
        return ""
    return (
        f"{fmt(w.generator_pct + w.bench_pct):>5} {fmt(w.server_pct):>7} {fmt(w.redis_pct):>6} "
        f"{fmt(w.postgres_pct):>4} {fmt(w.other_pct):>6} {fmt(w.machine_pct):>5}"
    )


WINDOW_HEADER = f"{'gen%':>5} {'server%':>7} {'redis%':>6} {'pg%':>4} {'other%':>6} {'mach%':>5}"


def environment(loop_name: str) -> dict[str, Any]:
    facts = environment_facts(loop_name)
    facts["loadavg_before"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    facts["wrk"] = _wrk_version()
    facts["hiredis"] = package_version("hiredis")
    facts["orjson"] = package_version("orjson")
    facts["kernel"] = platform.release()
    return facts


def _wrk_version() -> str | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    return (done.stdout + done.stderr).splitlines()[0].strip() if done.stdout + done.stderr else ""


@contextlib.contextmanager
def main_guard() -> Iterator[None]:
    """SIGTERM as Ctrl-C; a one-line error instead of a traceback for set-up failures."""
    import signal

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("\ninterrupted: the server and the private redis were stopped; no results written")
        raise SystemExit(130) from None


def runner() -> tuple[asyncio.Runner, str]:
    factory, name = event_loop_factory()
    return asyncio.Runner(loop_factory=factory), name


async def facts_of_redis(url: str) -> dict[str, Any]:
    return await redis_facts(url)


def server_log_tail(stack: Stack, lines: int = 15) -> str:
    return tail(stack.service.log_path, lines)


# --- raw connections for the Python-driven benches ------------------------------------------------


def http_request(method: str, path: str, token: str | None = None, body: bytes | None = None,
                 port: int = 0) -> bytes:  # fmt: skip
    """One HTTP/1.1 request as bytes (keep-alive; JSON body)."""
    head = [f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"]
    if token is not None:
        head.append(f"Authorization: Bearer {token}\r\n")
    if body is not None:
        head.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
    head.append("\r\n")
    return "".join(head).encode() + (body or b"")


async def connect(port: int) -> Any:
    """A keep-alive connection of bench/rawhttp.py (`exchange(request)` -> status, body, keep)."""
    from rawhttp import _Connection

    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    return _Connection(reader, writer)

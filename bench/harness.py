"""Shared pieces of the benchmarks: a private Redis, the service under uvicorn, CPU meters,
a closed-loop load driver and latency statistics. Needs only the project's own dependencies
(psutil is used for process CPU if it happens to be installed, otherwise /proc is read).
Importing this module also puts the repository root on sys.path, so `app` is the code next to
this file, the same code the benchmarked server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import redis

REPO_ROOT = Path(__file__).resolve().parents[1]
# The server runs `app.main:app` from REPO_ROOT (uvicorn puts its working directory first on
# sys.path); make this process import that same `app`, whatever the virtualenv points at.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(1, str(REPO_ROOT))
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now (tiny race window; fine for a benchmark)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop_process(proc: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM, wait, then SIGKILL the process group this process leads (we started it with
    start_new_session=True, so the group is exactly it and its children)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    # Workers a dead supervisor left behind are still in its process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --- a private redis-server -----------------------------------------------------------------


class BenchError(RuntimeError):
    """Setup failed in a way worth a one-paragraph message, not a traceback."""


class RedisServerNotFound(BenchError):
    pass


class _Started:
    """A process started on entering a `with` block and stopped on leaving it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PrivateRedis(_Started):
    """`redis-server` on a free port, nothing on disk, stopped on exit."""

    def __init__(self, workdir: Path) -> None:
        self._dir = workdir / "redis"
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.binary = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self._dir / "redis.log"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            raise RedisServerNotFound(
                "redis-server is not on PATH. Install it (Debian/Ubuntu: "
                "`apt-get install redis-server`), or run `scripts/ensure-redis.sh 6379 data/redis` "
                "and pass --redis-url redis://127.0.0.1:6379/15 (a database you can spare)."
            )
        self.binary = binary
        self._dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            deadline = time.monotonic() + 10
            while True:
                if self._proc.poll() is not None:
                    raise BenchError(f"redis-server exited:\n{tail(self.log_path)}")
                try:
                    if client.ping():
                        return self
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchError(f"redis-server did not answer:\n{tail(self.log_path)}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            _stop_process(self._proc, grace_seconds=5)
            self._proc = None


# --- the service under uvicorn -------------------------------------------------------------


class ServiceProcess(_Started):
    """The service in its own session, with its log in a file: `python -m app.serve` (a socket
    per worker, the recommended way) with more than one worker, else `uvicorn app.main:app`;
    `launcher="uvicorn"` runs uvicorn's own supervisor (one socket shared by the workers)."""

    def __init__(
        self, env: Mapping[str, str], workers: int, log_path: Path, launcher: str = "serve"
    ) -> None:
        self._env = env
        self._workers = workers
        self.log_path = log_path
        self.launcher = launcher
        self.root = REPO_ROOT  # the code it runs (bench/kit.py's --server-root changes it)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        # Older code (--server-root) may have no app/serve.py: uvicorn's supervisor then.
        serve = (self.root / "app" / "serve.py").exists()
        if self.launcher == "serve" and self._workers > 1 and serve:
            return [sys.executable, "-m", "app.serve"]
        uvicorn = Path(sys.executable).with_name("uvicorn")
        return [str(uvicorn), "app.main:app", "--no-proxy-headers"] if uvicorn.exists() else [
            sys.executable, "-m", "uvicorn", "app.main:app", "--no-proxy-headers"
        ]  # fmt: skip

    def launched_by(self) -> str:
        if "app.serve" in self.command():
            return "python -m app.serve (a socket per worker)"
        return "uvicorn (one socket shared by the workers)"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.port = free_port()
        command = self.command() + [
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", str(self._workers),
            "--no-access-log",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=self.root,
                env={**os.environ, **self._env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    async def wait_ready(self, timeout_seconds: float = 30.0) -> float:
        """Poll /readyz until 200; returns the seconds it took."""
        assert self.proc is not None
        started = time.perf_counter()
        deadline = started + timeout_seconds
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise BenchError(
                        f"uvicorn exited with {self.proc.returncode}:\n{tail(self.log_path)}"
                    )
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    raise BenchError(
                        f"the service was not ready in {timeout_seconds:.0f} s:\n"
                        f"{tail(self.log_path)}"
                    )
                await asyncio.sleep(0.1)

    def pids(self) -> list[int]:
        """The uvicorn process and all its descendants (the workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        return process_tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc, grace_seconds=10)
            self.proc = None


# --- CPU accounting --------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime in seconds) from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = raw.rpartition(")")[2].split()
    ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
    return ppid, (utime + stime) / _CLOCK_TICKS


def _all_proc_stats() -> dict[int, tuple[int, float]]:
    """`_proc_stat` of every process on the machine, by pid."""
    out: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                out[int(entry.name)] = stat
    return out


def all_processes_cpu() -> dict[int, float]:
    """utime + stime in seconds of every process on the machine."""
    return {pid: cpu for pid, (_, cpu) in _all_proc_stats().items()}


def _describe(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid} (exited)"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if words:
        words[0] = Path(words[0]).name
    text = " ".join(words) or f"pid {pid}"
    return text if len(text) <= 60 else text[:57] + "..."


_REDIS_NAMES = ("redis-server", "valkey-server")


def process_tree(root: int) -> list[int]:
    try:
        import psutil  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            proc = psutil.Process(root)
            return [root, *(p.pid for p in proc.children(recursive=True))]
        except psutil.Error:
            return []
    parents = {pid: ppid for pid, (ppid, _) in _all_proc_stats().items()}
    tree = [root]
    frontier = [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree.extend(children)
        frontier = children
    return tree


def processes_cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None:
            total += stat[1]
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from the first line of /proc/stat."""
    try:
        values = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return 0.0, 0.0
    user, nice, system, idle, iowait, irq, softirq, steal = values
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return total - idle - iowait, total


RedisCpuProbe = Callable[[], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class CpuSample:
    wall: float
    bench: float
    server: float
    redis: float
    machine_busy: float
    machine_total: float


async def cpu_sample(server_pids: Sequence[int], redis_cpu: RedisCpuProbe) -> CpuSample:
    busy, total = machine_cpu()
    try:
        redis_seconds = await redis_cpu()
    except Exception:
        redis_seconds = float("nan")
    return CpuSample(
        wall=time.perf_counter(),
        bench=time.process_time(),
        server=processes_cpu_seconds(server_pids),
        redis=redis_seconds,
        machine_busy=busy,
        machine_total=total,
    )


async def cpu_window(
    pids: Sequence[int], redis_cpu: RedisCpuProbe, work: Callable[[], Awaitable[T]]
) -> tuple[T, CpuUse, float, float]:
    """Runs `work`: its value, the CPU this process, `pids` (the server) and Redis used
    meanwhile (and what else kept the machine busy), when it started and ended (perf_counter)."""
    watch = ProcessWatch(pids)
    watch.start()
    try:
        before = await cpu_sample(pids, redis_cpu)
        start = time.perf_counter()
        value = await work()
        end = time.perf_counter()
        after = await cpu_sample(pids, redis_cpu)
    finally:
        others = await watch.stop()
    return value, CpuUse.between(before, after, server_pids=pids, others_top=others), start, end


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds over a phase, and the same as a percentage of one core (100 = one core
    busy all the time). `machine_busy_pct` is of all cores together (100 = every core busy).
    `other_pct` is the machine's busy time the three do not explain (other processes, kernel
    work charged to nobody), in % of one core: well above 10 means something else shared the
    machine during the phase."""

    bench_s: float
    server_s: float | None
    redis_s: float
    bench_pct: float
    server_pct: float | None
    redis_pct: float
    machine_busy_pct: float
    other_pct: float | None
    # The busiest processes that are neither this one, nor the server, nor a Redis server.
    others_top: list[str]

    @staticmethod
    def between(
        a: CpuSample,
        b: CpuSample,
        *,
        server_pids: Sequence[int] = (),
        others_top: list[str] | None = None,
    ) -> CpuUse:
        wall = max(b.wall - a.wall, 1e-9)
        total = b.machine_total - a.machine_total
        server = b.server - a.server if server_pids else None
        bench_pct = 100 * (b.bench - a.bench) / wall
        server_pct = None if server is None else 100 * server / wall
        redis_pct = 100 * (b.redis - a.redis) / wall
        busy_pct = 100 * (b.machine_busy - a.machine_busy) / total if total > 0 else 0.0
        cores = os.cpu_count() or 1
        other = busy_pct * cores - bench_pct - (server_pct or 0.0) - redis_pct
        return CpuUse(
            bench_s=round(b.bench - a.bench, 3),
            server_s=None if server is None else round(server, 3),
            redis_s=round(b.redis - a.redis, 3),
            bench_pct=round(bench_pct, 1),
            server_pct=None if server_pct is None else round(server_pct, 1),
            redis_pct=round(redis_pct, 1),
            machine_busy_pct=round(busy_pct, 1),
            other_pct=None if total <= 0 or other != other else round(max(other, 0.0), 1),
            others_top=others_top or [],
        )


class ProcessWatch:
    """Which other processes used the machine during a phase: the process table is read once
    a second, so a process that lived at least that long is seen even if it has exited."""

    def __init__(self, own_pids: Sequence[int], interval_s: float = 1.0) -> None:
        self._own = {os.getpid(), *own_pids}
        self._interval = interval_s
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0

    def _sample(self, first: bool) -> None:
        for pid, seconds in all_processes_cpu().items():
            if pid in self._own:
                continue
            if pid not in self._names:
                self._names[pid] = _describe(pid)
                # A process born during the phase used all its CPU time in it.
                self._first[pid] = seconds if first else 0.0
            self._last[pid] = seconds

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._sample(first=False)

    def start(self) -> None:
        self._started = time.perf_counter()
        self._sample(first=True)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> list[str]:
        """Up to three other processes that used 5% of a core or more, busiest first."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sample(first=False)
        wall = max(time.perf_counter() - self._started, 1e-9)
        used = sorted(
            ((self._last[pid] - self._first[pid], pid) for pid in self._last), reverse=True
        )
        out: list[str] = []
        for seconds, pid in used:
            pct = 100 * seconds / wall
            if pct < 5 or len(out) == 3:
                break
            if not self._names[pid].startswith(_REDIS_NAMES):
                out.append(f"{self._names[pid]} ({pct:.0f}%)")
        return out


# --- the closed-loop driver ----------------------------------------------------------------

# One call of the operation under test: (outcome label, response bytes).
Op = Callable[[], Awaitable[tuple[str, int]]]

# A phase gives up early when this many calls failed and none succeeded: a dead server must
# not spin the generator for the whole phase.
_ABORT_AFTER_FAILURES = 200


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_ms(
    values_s: Sequence[float], quantiles: Sequence[float], digits: int
) -> dict[str, float]:
    """Percentiles (named p50, p99, p999 for 99.9 ...), max and mean of latencies in seconds, in
    milliseconds rounded to `digits`; {} without values."""
    values = sorted(values_s)
    if not values:
        return {}
    out = {
        f"p{q:g}".replace(".", ""): round(percentile(values, q) * 1000, digits) for q in quantiles
    }
    out["max"] = round(values[-1] * 1000, digits)
    out["mean"] = round(sum(values) / len(values) * 1000, digits)
    return out


@dataclass
class LoadResult:
    duration_s: float
    outcomes: Counter[str]
    ok: int
    latencies_s: list[float] = field(repr=False)
    bytes_total: int
    aborted: bool

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())

    def latency_ms(self) -> dict[str, float]:
        return latency_ms(self.latencies_s, (50, 95, 99), digits=3)


async def closed_loop(
    name: str,
    op: Op,
    *,
    ok_labels: frozenset[str],
    concurrency: int,
    duration_s: float,
    progress_every_s: float = 2.0,
    quiet: bool = False,
) -> LoadResult:
    """`concurrency` tasks call `op` back to back until `duration_s` has passed. Latency is
    measured around each call; every call counts, whatever its outcome."""
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    state = {"bytes": 0, "ok": 0, "failed": 0}
    aborted = False
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker() -> None:
        nonlocal aborted
        clock = time.perf_counter
        while not aborted and clock() < deadline:
            t0 = clock()
            try:
                label, size = await op()
            except Exception as exc:  # a transport error is a result, not a crash
                label, size = f"error:{type(exc).__name__}", 0
            latencies.append(clock() - t0)
            outcomes[label] += 1
            state["bytes"] += size
            if label in ok_labels:
                state["ok"] += 1
            else:
                state["failed"] += 1
                if state["ok"] == 0 and state["failed"] >= _ABORT_AFTER_FAILURES:
                    aborted = True

    def line(elapsed: float) -> str:
        return (
            f"    {name}: {elapsed:5.1f}/{duration_s:.0f} s  "
            f"{state['ok']:>8} ok  {state['failed']:>6} other  "
            f"{state['ok'] / elapsed:>9.0f} ok/s"
        )

    async with progress(progress_every_s, line, started=started, quiet=quiet):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(
        duration_s=time.perf_counter() - started,
        outcomes=outcomes,
        ok=state["ok"],
        latencies_s=latencies,
        bytes_total=state["bytes"],
        aborted=aborted,
    )


@contextlib.asynccontextmanager
async def progress(
    every_s: float,
    line: Callable[[float], str],
    *,
    started: float | None = None,
    quiet: bool = False,
) -> AsyncIterator[None]:
    """Prints `line(seconds since started)` every `every_s` while the block runs (`started`: a
    perf_counter reading, by default the block's start)."""
    since = time.perf_counter() if started is None else started

    async def ticker() -> None:
        while True:
            await asyncio.sleep(every_s)
            print(line(time.perf_counter() - since), flush=True)

    task = None if quiet else asyncio.create_task(ticker())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def redis_cpu_seconds(client: Any) -> float:
    """CPU time the Redis server has used (user + system), from INFO cpu."""
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def print_header(header: str) -> None:
    """A table's header line, underlined."""
    print(header)
    print("-" * len(header))


def command_line() -> str:
    """How this process was started, for the result file."""
    return " ".join([Path(sys.executable).name, *sys.argv])


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def temp_workdir(stack: contextlib.ExitStack) -> Path:
    """A temporary directory for the run, removed when `stack` closes."""
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="encore-bench-")))


def write_json(data: Any, name: str, out: Path | None) -> Path:
    """Writes a result file: `out`, or bench/results/<name>-<timestamp>.json."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out or REPO_ROOT / "bench" / "results" / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


# --- misc -------------------------------------------------------------------------------------


def git_revision() -> dict[str, Any]:
    """The repository's commit and whether the working tree has changes (read only)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}

"""Hold latency under open-loop load: a fixed arrival rate, latency from the scheduled time.

    .venv/bin/python bench/openloop.py                  # measure the max (wrk), then 70 % of it
    .venv/bin/python bench/openloop.py --rate 800       # a given arrival rate

Requests are scheduled at fixed times (t0 + i / rate) whatever the server does, and each one's
latency runs from its scheduled time to its answer, so a slow server is charged for the
requests it kept waiting (no coordinated omission, as wrk2 does it; wrk2 is not packaged in
Debian). The generator (`--generator`) is by default `native`: bench/native/openloop.c, a
single-threaded epoll program built with gcc into the run's temp dir, which sends pre-built
requests from a file over `--connections` keep-alive connections and writes one record per
request back (a few % of a core, where the Python generator took 15-21 %: on two cores, CPU
the generator does not use is left to the server). `--generator python` is the asyncio
generator (one task per connection, taking the next due request from a queue). Both measure
their own lateness: `sched lag` (how late the scheduler released a request: for the native one,
when its timer woke it) and `send lag` (scheduled time to the write, which also includes
waiting for a free connection). Each hold is one seat, a distinct buyer, seats in random order,
never repeated. Target (issue #9): p99 <= 50 ms, p99.9 <= 200 ms at 70 % of the measured
maximum for 60 s with >= 500 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import struct
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
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
    connect,
    fmt,
    http_request,
    latency_summary,
    lua_lines,
    run_wrk,
    seat_ids_of,
    settings_of,
    window_columns,
)

TARGET_P99_MS = 50.0
TARGET_P999_MS = 200.0

NATIVE_SOURCE = Path(__file__).resolve().parent / "native" / "openloop.c"
NATIVE_BINARY = "openloop-native"  # its name in the process table (ProcessWatch)
# Not -Werror: a newer gcc's new warning must not stop a benchmark (the source is clean with
# -Werror on gcc 12).
NATIVE_CFLAGS = ("-O2", "-Wall", "-Wextra", "-std=gnu11")
NATIVE_DRAIN_S = 60.0  # how long the native generator waits for answers after the last send
_LENGTH = struct.Struct("<I")  # the request file: each request prefixed by its length
# One record per request: index, status (0 transport error, -1 unanswered), then due, released,
# sent and done in ns from the schedule's start (-1: did not happen). See openloop.c.
_RECORD = struct.Struct("<Iiqqqq")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument(
        "--rate", type=float, default=None, help="arrivals/s (default: 70 %% of max)"
    )
    parser.add_argument("--fraction", type=float, default=0.7, help="of the measured max")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="open-loop seconds before")
    parser.add_argument("--connections", type=int, default=512, help="keep-alive connections")
    parser.add_argument("--max-duration", type=float, default=10.0, help="seconds of the max run")
    parser.add_argument("--max-connections", type=int, default=64, help="wrk connections (max)")
    parser.add_argument(
        "--generator",
        choices=("native", "python"),
        default="native",
        help="load generator: native (bench/native/openloop.c, built with gcc) or python "
        "(asyncio in this process)",
    )
    return parser.parse_args(argv)


@dataclass(slots=True)
class Slot:
    scheduled: float
    request: bytes
    released: float = 0.0
    sent: float = 0.0
    done: float = 0.0
    status: int = 0


class OpenLoop:
    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.connections = connections
        self.queue: asyncio.Queue[Slot | None] = asyncio.Queue()
        self.errors: Counter[str] = Counter()

    async def worker(self, out: list[Slot]) -> None:
        conn = await connect(self.port)
        clock = time.perf_counter
        while True:
            slot = await self.queue.get()
            if slot is None:
                conn.close()
                return
            slot.sent = clock()
            try:
                status, _, keep = await conn.exchange(slot.request)
            except Exception as exc:  # a transport error is a result, not a crash
                self.errors[type(exc).__name__] += 1
                status, keep = 0, False
            slot.done = clock()
            slot.status = status
            out.append(slot)
            if not keep:
                conn.close()
                conn = await connect(self.port)

    async def run(self, requests: list[bytes], rate: float) -> tuple[list[Slot], float, float]:
        """Send `requests` at `rate`/s; (finished slots, start, end of schedule)."""
        out: list[Slot] = []
        workers = [asyncio.create_task(self.worker(out)) for _ in range(self.connections)]
        await asyncio.sleep(0.5)  # connections open before the clock starts
        interval = 1.0 / rate
        clock = time.perf_counter
        start = clock() + 0.05
        for i, request in enumerate(requests):
            due = start + i * interval
            now = clock()
            if due > now:
                await asyncio.sleep(due - now)
            slot = Slot(due, request)
            slot.released = clock()
            self.queue.put_nowait(slot)
        end = start + len(requests) * interval
        for _ in workers:
            self.queue.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*workers), timeout=120)
        return out, start, end


def build_native(workdir: Path) -> Path:
    """Compile bench/native/openloop.c into `workdir`; the binary's path."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BenchError(
            "the native load generator is built with gcc, which is not on PATH: "
            "apt-get install -y gcc, or run with --generator python"
        )
    binary = workdir / NATIVE_BINARY
    done = subprocess.run(
        [gcc, *NATIVE_CFLAGS, "-o", str(binary), str(NATIVE_SOURCE)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BenchError(
            f"gcc could not build {NATIVE_SOURCE} (or run with --generator python):\n"
            f"{done.stderr.strip()}"
        )
    return binary


class NativeLoop:
    """The same open loop as `OpenLoop`, run by bench/native/openloop.c as a child process: the
    requests go to it in a file, one record per request comes back in another. Its `sched lag`
    is how late its timer woke it (released - due); `send lag` and the service time mean what
    they mean for `OpenLoop`. The child is waited for inside `run`, so a `Meter` around `run`
    counts its CPU (RUSAGE_CHILDREN)."""

    def __init__(self, binary: Path, port: int, connections: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.connections = connections
        self.workdir = workdir
        self.errors: Counter[str] = Counter()
        self.facts: dict[str, Any] = {}
        self.runs = 0

    async def run(self, requests: list[bytes], rate: float) -> tuple[list[Slot], float, float]:
        """Send `requests` at `rate`/s; (finished slots, start, end of schedule)."""
        self.runs += 1
        requests_file = self.workdir / f"openloop-{self.runs}.requests"
        records_file = self.workdir / f"openloop-{self.runs}.records"
        with requests_file.open("wb") as sink:
            for request in requests:
                sink.write(_LENGTH.pack(len(request)))
                sink.write(request)
        proc = await asyncio.create_subprocess_exec(
            str(self.binary),
            "--port", str(self.port),
            "--rate", repr(rate),
            "--connections", str(self.connections),
            "--requests", str(requests_file),
            "--out", str(records_file),
            "--drain", f"{NATIVE_DRAIN_S:g}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        messages: list[str] = []

        async def relay() -> None:  # progress every 5 s and errors, printed as they come
            assert proc.stderr is not None
            async for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                messages.append(line)
                print(f"    {line}", flush=True)

        try:
            relaying = asyncio.create_task(relay())
            assert proc.stdout is not None
            timeout = len(requests) / rate + NATIVE_DRAIN_S + 60
            stdout = await asyncio.wait_for(proc.stdout.read(), timeout)
            code = await asyncio.wait_for(proc.wait(), 10)
            await relaying
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if code != 0:
            last = messages[-1] if messages else "no message"
            raise BenchError(f"the native load generator failed (exit {code}): {last}")
        self.facts = json.loads(stdout)
        self.errors.update(self.facts.get("errors", {}))
        out: list[Slot] = []
        records = _RECORD.iter_unpack(records_file.read_bytes())
        for _, status, due, released, sent, done in records:
            if done >= 0:  # answered, or a transport error (status 0)
                out.append(Slot(due / 1e9, b"", released / 1e9, sent / 1e9, done / 1e9, status))
        requests_file.unlink()
        return out, 0.0, len(requests) / rate


def summarise(slots: list[Slot], start: float, end: float) -> dict[str, Any]:
    inside = [s for s in slots if start <= s.scheduled < end]
    statuses = Counter(str(s.status) for s in inside)
    latency = [s.done - s.scheduled for s in inside]
    ok_latency = [s.done - s.scheduled for s in inside if s.status == 201]
    wall = end - start
    return {
        "scheduled": len(inside),
        "rate_offered": round(len(inside) / wall, 1),
        "ok_per_s": round(statuses.get("201", 0) / wall, 1),
        "statuses": dict(statuses.most_common()),
        "latency_ms": latency_summary(latency),
        "latency_ms_201": latency_summary(ok_latency),
        "sched_lag_ms": latency_summary([s.released - s.scheduled for s in inside]),
        "send_lag_ms": latency_summary([s.sent - s.scheduled for s in inside]),
        "service_ms": latency_summary([s.done - s.sent for s in inside]),
        "per_second_p99_ms": per_second_p99(inside, start, end),
    }


def per_second_p99(slots: list[Slot], start: float, end: float) -> list[float]:
    buckets: dict[int, list[float]] = {}
    for s in slots:
        buckets.setdefault(int(s.scheduled - start), []).append(s.done - s.scheduled)
    out = []
    for second in range(int(end - start)):
        values = sorted(buckets.get(second, []))
        out.append(round(values[int(0.99 * (len(values) - 1))] * 1000, 1) if values else 0.0)
    return out


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    binary: Path | None = None
    if args.generator == "native":
        t0 = time.perf_counter()
        binary = build_native(stack.workdir)
        results.setup["native_build_s"] = round(time.perf_counter() - t0, 2)
    results.setup["server_ready_s"] = round(await stack.start(), 2)
    port = stack.service.port
    rate = args.rate
    needed = int((rate or 3000) * (args.duration + args.warmup) * 1.05) + 1000
    if rate is None:
        needed += 40_000  # the max run's holds
    seats: list[tuple[str, str]] = []
    while len(seats) < needed:
        concert = await stack.create_concert(100_000)
        seats += [(concert["id"], s) for s in seat_ids_of(concert)]
    random.shuffle(seats)
    t0 = time.perf_counter()
    tokens = stack.tokens(len(seats))
    results.setup["tokens"] = len(tokens)
    results.setup["tokens_mint_s"] = round(time.perf_counter() - t0, 2)
    results.setup["venues"] = stack.concerts

    def hold(n: int) -> tuple[str, str, bytes]:
        concert_id, seat = seats[n]
        body = json.dumps({"seat_ids": [seat]}, separators=(",", ":")).encode()
        return f"{API}/concerts/{concert_id}/holds", tokens[n], body

    used = 0
    if rate is None:
        count = 40_000
        data = stack.workdir / "max.tsv"
        with data.open("w") as out:
            for n in range(count):
                path, token, body = hold(n)
                out.write(f"{path}\t{token}\t{body.decode()}\n")
        used = count
        print(
            f"[max] wrk -t1 -c{args.max_connections} holds for {args.max_duration:g} s", flush=True
        )
        meter = stack.meter()
        async with meter:
            res = await run_wrk(
                stack.service.base_url + "/",
                lua_lines(data, "POST", 1),
                threads=1,
                connections=args.max_connections,
                duration_s=args.max_duration,
                workdir=stack.workdir,
            )
        if res.requests >= count:
            results.notes.append("the max run used all its seats: later holds repeated (409)")
        max_rate = res.ok / res.duration_s
        rate = args.fraction * max_rate
        results.rows.append(
            {
                "phase": "max (wrk, closed loop)",
                "ok_per_s": round(max_rate, 1),
                "latency_ms": res.latency_ms,
                "statuses": {"2xx": res.ok, "other": res.non2xx, **res.errors},
                "window": meter.window,
                "connections": args.max_connections,
            }
        )
        print(f"    max {max_rate:,.0f} holds/s -> open loop at {rate:,.0f}/s", flush=True)
    results.settings["rate"] = round(rate, 1)

    def requests(count: int) -> list[bytes]:
        nonlocal used
        out = []
        for _ in range(count):
            path, token, body = hold(used)
            out.append(http_request("POST", path, token, body, port))
            used += 1
        return out

    loop: OpenLoop | NativeLoop
    if binary is not None:
        loop = NativeLoop(binary, port, args.connections, stack.workdir)
    else:
        loop = OpenLoop(port, args.connections)
    if args.warmup > 0:
        print(f"[warm-up] {args.warmup:g} s at {rate:,.0f}/s", flush=True)
        await loop.run(requests(int(rate * args.warmup)), rate)
    total = int(rate * args.duration)
    print(
        f"[open loop] {total:,} holds at {rate:,.0f}/s over {args.duration:g} s, "
        f"{args.connections} connections, {args.generator} generator",
        flush=True,
    )
    batch = requests(total)
    meter = stack.meter()
    async with meter:
        slots, start, end = await loop.run(batch, rate)
    summary = summarise(slots, start, end)
    summary["transport_errors"] = dict(loop.errors)
    summary["unanswered"] = total - len(slots)
    window = meter.window
    assert window is not None
    # The native generator is a child process (generator_pct); the Python one is this process.
    summary["generator"] = {"name": args.generator, "bench_process_cpu_pct": window.bench_pct}
    if isinstance(loop, NativeLoop):
        summary["generator"].update(cpu_pct=window.generator_pct, facts=loop.facts)
    else:
        summary["generator"]["cpu_pct"] = window.bench_pct
    results.rows.append(
        {"phase": "open loop", **summary, "window": window, "connections": args.connections}
    )
    await stack.stop()


def derive(results: Results) -> None:
    row = next(r for r in results.rows if r["phase"] == "open loop")
    lat = row["latency_ms"]
    results.derived = {
        "p99_ms": lat.get("p99"),
        "p999_ms": lat.get("p999"),
        "target_p99_ms": TARGET_P99_MS,
        "target_p999_ms": TARGET_P999_MS,
        "target_met": (lat.get("p99", 1e9) <= TARGET_P99_MS)
        and (lat.get("p999", 1e9) <= TARGET_P999_MS),
        "generator_lag_p99_ms": row["send_lag_ms"].get("p99"),
        "generator_cpu_pct": row["generator"]["cpu_pct"],
    }
    for r in results.rows:
        w: Window | None = r.get("window")
        if w is not None and (w.other_pct or 0) > 25:
            # the native generator is counted in gen%, not among the others
            others = [o for o in w.others_top if not o.startswith(NATIVE_BINARY)]
            results.notes.append(
                f"{r['phase']}: other processes used {w.other_pct:.0f}% of a core "
                f"({', '.join(others) or 'unknown'})"
            )


def print_table(results: Results) -> None:
    s = results.settings
    if s["generator"] == "native":
        generator = "native generator (bench/native/openloop.c: C, epoll, one thread)"
    else:
        generator = f"Python generator ({results.environment.get('bench_event_loop')})"
    print(
        f"Load: open loop at {fmt(s.get('rate'))}/s ({s['fraction']:.0%} of the max unless "
        f"--rate), {s['connections']} connections, {s['duration_s']:g} s after {s['warmup_s']:g} s"
        f" warm-up; {generator}"
    )
    print()
    header = (
        f"{'phase':<24} {'ok/s':>7} {'p50 ms':>7} {'p90':>7} {'p99':>7} {'p99.9':>7} {'max':>7} "
        f"{WINDOW_HEADER}"
    )
    print_header(header)
    for r in results.rows:
        lat = r["latency_ms"]
        print(
            f"{r['phase']:<24} {fmt(r['ok_per_s']):>7} {fmt(lat.get('p50'), 1):>7} "
            f"{fmt(lat.get('p90'), 1):>7} {fmt(lat.get('p99'), 1):>7} {fmt(lat.get('p999'), 1):>7} "
            f"{fmt(lat.get('max'), 0):>7} {window_columns(r['window'])}"
        )
    row = next(r for r in results.rows if r["phase"] == "open loop")
    print()
    print(f"  statuses: {row['statuses']}  transport errors: {row['transport_errors'] or 'none'}")
    gen = row["generator"]
    if gen["name"] == "native":
        facts = gen.get("facts", {})
        print(
            f"  generator CPU: native {fmt(gen['cpu_pct'], 1)}% of a core (the C process), "
            f"this Python process {fmt(gen['bench_process_cpu_pct'], 1)}% (meters, files); "
            f"connections reopened: {facts.get('reconnects', 0)} "
            f"({facts.get('reopened_idle', 0)} before the server's keep-alive timeout)"
        )
    else:
        print(f"  generator CPU: Python (this process) {fmt(gen['cpu_pct'], 1)}% of a core")
    print(
        f"  generator: sched lag p99 {fmt(row['sched_lag_ms'].get('p99'), 2)} ms, "
        f"max {fmt(row['sched_lag_ms'].get('max'), 1)} ms; send lag (incl. waiting for a "
        f"connection) p99 {fmt(row['send_lag_ms'].get('p99'), 2)} ms; service time (send to "
        f"answer) p99 {fmt(row['service_ms'].get('p99'), 1)} ms"
    )
    d = results.derived
    verdict = "met" if d["target_met"] else "NOT met"
    print(
        f"  target p99 <= {TARGET_P99_MS:g} ms and p99.9 <= {TARGET_P999_MS:g} ms: {verdict} "
        f"(p99 {fmt(d['p99_ms'], 1)}, p99.9 {fmt(d['p999_ms'], 1)})"
    )
    print(f"  p99 per second: {row['per_second_p99_ms']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_of(
        args, "fraction", "connections", "duration_s=duration", "warmup_s=warmup", "generator"
    )
    banner = (
        f"Encore open-loop holds: {args.workers} worker(s), store {args.store}, "
        f"{args.connections} connections, {args.duration:g} s, {args.generator} generator"
    )
    return bench_main("openloop", args, banner, settings, run, derive, print_table)


if __name__ == "__main__":
    sys.exit(main())

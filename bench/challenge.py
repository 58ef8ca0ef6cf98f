"""The waiting room's proof of work (app/waiting_room/challenge.py): what it costs the server,
and what it costs a fan.

    .venv/bin/python bench/challenge.py                 # about a minute
    .venv/bin/python bench/challenge.py --no-browser    # the server side only

1. Server, per challenge issued: `Challenges.make` (one SHA-256, two HMACs) and the response
   model, as `GET /concerts/{id}/queue/challenge` builds it, in this process, one core.
2. Server, per verification: `Challenges._verify` (parse the payload, check the signature, the
   expiry, the key signature and the concert), in process; then the whole `check` with its
   Redis `SET NX` on a private redis-server, 64 checks in flight.
3. The fan: the `altcha` widget's own solver (`frontend/node_modules/altcha/dist/workers/
   sha.js`, the worker the web app runs) in headless Chromium (/usr/bin/chromium, through
   Playwright), on challenges issued by the server at each difficulty; with one worker (a
   phone's one busy core) and with the web app's worker count on this machine
   (min(4, cores)). Every solution is checked by the server's `_verify`. The solve time of one
   challenge varies a lot (the secret counter is uniform below the difficulty): the mean over
   `--solves` challenges, and the hash rate, from which the expected time at any difficulty
   follows (difficulty / 2 / rate).

Nothing passes or fails: the figures are for docs/performance.md ("Proof of work").
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import altcha

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import PrivateRedis  # noqa: E402

from app.platform.redis import build_redis  # noqa: E402
from app.storage.records import DEFAULT_CHALLENGE_DIFFICULTY, Concert  # noqa: E402
from app.waiting_room.challenge import ChallengeRead, Challenges  # noqa: E402

WORKER = ROOT / "frontend" / "node_modules" / "altcha" / "dist" / "workers" / "sha.js"
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
CONCERT = cast(Concert, SimpleNamespace(id="bench-concert"))
KEY = "bench-" + "k" * 40

PAGE = """<!doctype html><meta charset="utf-8"><title>solver</title><script type="module">
window.solve = async (challenge, workers) => {
  const started = performance.now();
  const pool = Array.from({ length: workers }, () => new Worker("/sha.js"));
  try {
    const found = await new Promise((resolve, reject) => {
      pool.forEach((w, i) => {
        w.onmessage = (m) => {
          if (m.data && m.data.error) reject(String(m.data.error));
          else if (m.data && typeof m.data.counter === "number") resolve(m.data);
        };
        w.postMessage({ type: "work", challenge, counterMode: "uint32",
                        counterStart: i, counterStep: workers, timeout: 600000 });
      });
    });
    return { ms: performance.now() - started, counter: found.counter,
             derivedKey: found.derivedKey };
  } finally {
    pool.forEach((w) => w.terminate());
  }
};
window.ready = true;
</script>"""


def rate(label: str, count: int, seconds: float) -> dict[str, Any]:
    per_op_ms = seconds / count * 1000
    print(f"  {label:<44} {per_op_ms:8.4f} ms  {count / seconds:>10,.0f} /s")
    return {"per_op_ms": round(per_op_ms, 4), "per_second": round(count / seconds)}


def server_side(n: int) -> dict[str, Any]:
    print(f"server, in process, {n:,} operations each (one core):")
    challenges = Challenges(cast(Any, None), KEY, ttl_seconds=900)
    out: dict[str, Any] = {}
    started = time.perf_counter()
    for _ in range(n):
        ChallengeRead.model_validate(
            challenges.make(CONCERT.id, DEFAULT_CHALLENGE_DIFFICULTY).to_dict()
        )
    out["issue"] = rate("issue (make + response model)", n, time.perf_counter() - started)

    payloads = []
    for _ in range(200):  # a low difficulty: the verification does not depend on it
        issued = challenges.make(CONCERT.id, 1_000)
        solution = altcha.solve_challenge(issued)
        assert solution is not None
        payloads.append(altcha.Payload(issued, solution).to_base64())
    started = time.perf_counter()
    for i in range(n):
        challenges._verify(CONCERT, payloads[i % len(payloads)])
    out["verify_cpu"] = rate(
        "verify (parse, signatures, expiry, concert)", n, time.perf_counter() - started
    )
    return out


async def redis_checks(n: int, url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        private = None if url else PrivateRedis(Path(tmp)).start()
        try:
            client = build_redis(url or private.url, 5.0, 64)  # type: ignore[union-attr]
            challenges = Challenges(client, KEY, ttl_seconds=900)
            payloads = []
            for _ in range(n):
                issued = challenges.make(CONCERT.id, 1_000)
                solution = altcha.solve_challenge(issued)
                assert solution is not None
                payloads.append(altcha.Payload(issued, solution).to_base64())
            queue = iter(payloads)

            async def worker() -> None:
                for payload in queue:
                    await challenges.check(CONCERT, payload)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(64)))
            elapsed = time.perf_counter() - started
            await client.aclose()
        finally:
            if private is not None:
                private.stop()
    print("server, check with its Redis SET NX (64 in flight, one process):")
    return rate("check (verify + SET NX)", n, elapsed)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        elif self.path == "/sha.js":
            body = WORKER.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
        else:
            self.send_error(404)
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def fan_side(difficulties: list[int], solves: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    challenges = Challenges(cast(Any, None), KEY, ttl_seconds=900)
    cores = os.cpu_count() or 1
    app_workers = max(1, min(4, cores))
    out: dict[str, Any] = {"cores": cores, "runs": []}
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            page = await browser.new_page()
            await page.goto(url)
            await page.wait_for_function("window.ready === true")
            version = browser.version
            print(
                f"fan: the altcha widget's SHA worker, headless Chromium {version}, {cores} cores:"
            )
            for workers in sorted({1, app_workers}):
                for difficulty in difficulties:
                    times, rates = [], []
                    for _ in range(solves):
                        issued = challenges.make(CONCERT.id, difficulty)
                        found = await page.evaluate(
                            "([c, w]) => window.solve(c, w)", [issued.to_dict(), workers]
                        )
                        solution = altcha.Solution(found["counter"], found["derivedKey"])
                        challenges._verify(CONCERT, altcha.Payload(issued, solution).to_base64())
                        times.append(found["ms"])
                        rates.append((found["counter"] + 1) / max(found["ms"], 0.001) * 1000)
                    run = {
                        "workers": workers,
                        "difficulty": difficulty,
                        "mean_ms": round(statistics.fmean(times)),
                        "max_ms": round(max(times)),
                        "hashes_per_second": round(statistics.median(rates)),
                        "expected_ms": round(difficulty / 2 / statistics.median(rates) * 1000),
                    }
                    out["runs"].append(run)
                    print(
                        f"  {workers} worker(s), difficulty {difficulty:>10,}: mean "
                        f"{run['mean_ms']:>6,} ms, max {run['max_ms']:>6,} ms over {solves}; "
                        f"{run['hashes_per_second']:>9,} hashes/s -> expected "
                        f"{run['expected_ms']:>6,} ms"
                    )
            out["chromium"] = version
            await browser.close()
    finally:
        server.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=20_000)
    parser.add_argument("--checks", type=int, default=5_000)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--difficulties", default="100000,1000000")
    parser.add_argument("--solves", type=int, default=10)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"server": server_side(args.operations)}
    results["server"]["check"] = asyncio.run(redis_checks(args.checks, args.redis_url))
    if not args.no_browser:
        if not CHROMIUM.exists() or not WORKER.exists():
            print(f"fan side skipped: needs {CHROMIUM} and {WORKER} (npm --prefix frontend ci)")
        else:
            difficulties = [int(d) for d in args.difficulties.split(",")]
            results["fan"] = asyncio.run(fan_side(difficulties, args.solves))
    print(json.dumps(results))


if __name__ == "__main__":
    main()

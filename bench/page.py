"""The 50,000-seat concert page on a phone: bytes on the wire and time to a drawn seat map.

    .venv/bin/python bench/page.py                            # this tree, 3 loads
    .venv/bin/python bench/page.py --server-root /tmp/before  # another copy (its frontend/dist)

Chromium (Debian's, `--chromium`) loads the concert page of a stadium (Pitch 50 x 200, Lower
and Upper Tier 100 x 200 each, as the demo's "Stadium Nights") with Lighthouse's mobile profile:
1.6 Mbps down, 750 Kbps up, 150 ms round trip (Chrome DevTools' network conditions), the CPU
slowed 4 times, a 390 x 844 touch screen. Each load starts with an empty cache.

Figures per load:
  bytes      what crossed the network for the first view, headers included (Chrome's
             encodedDataLength of every response until the map was drawn, the seat stream's
             bytes so far included)
  map ms     from navigation start to the web app's `seatmap:drawn` performance mark (the seat
             map drawn with the live seat states for the first time)
  requests   responses counted in `bytes`
The targets (issue 18): at most 250 KB and 2.5 s. Nothing passes or fails here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from harness import print_header
from kit import Results, Stack, bench_main, bench_parser, settings_of

TARGET_BYTES = 250_000
TARGET_MS = 2500
STADIUM = [
    {"name": "Pitch", "price_cents": 12000, "rows": 50, "seats_per_row": 200},
    {"name": "Lower Tier", "price_cents": 8500, "rows": 100, "seats_per_row": 200},
    {"name": "Upper Tier", "price_cents": 5500, "rows": 100, "seats_per_row": 200},
]
MOBILE_NETWORK = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}
DRAWN = "performance.getEntriesByName('seatmap:drawn').length > 0"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = bench_parser(__doc__, workers=1)
    parser.add_argument("--loads", type=int, default=3, help="page loads, each with a cold cache")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--cpu-slowdown", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per load")
    return parser.parse_args(argv)


async def load_once(browser: Any, url: str, args: argparse.Namespace) -> dict[str, Any]:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        bypass_csp=True,  # the app's CSP forbids eval, which wait_for_function uses
    )
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        await cdp.send("Network.emulateNetworkConditions", MOBILE_NETWORK)
        await cdp.send("Emulation.setCPUThrottlingRate", {"rate": args.cpu_slowdown})
        finished: dict[str, float] = {}
        streaming: dict[str, float] = {}
        cdp.on(
            "Network.loadingFinished",
            lambda e: finished.__setitem__(e["requestId"], e["encodedDataLength"]),
        )
        cdp.on(
            "Network.dataReceived",
            lambda e: streaming.__setitem__(
                e["requestId"], streaming.get(e["requestId"], 0) + e["encodedDataLength"]
            ),
        )
        await page.goto(url, wait_until="commit")
        await page.wait_for_function(DRAWN, timeout=args.timeout * 1000, polling=100)
        drawn_ms: float = await page.evaluate(
            "performance.getEntriesByName('seatmap:drawn')[0].startTime"
        )
        unfinished = {k: v for k, v in streaming.items() if k not in finished}
        total = sum(finished.values()) + sum(unfinished.values())
        return {
            "bytes": int(total),
            "map_ms": round(drawn_ms),
            "requests": len(finished) + len(unfinished),
        }
    finally:
        await context.close()


async def run(args: argparse.Namespace, stack: Stack, results: Results) -> None:
    from playwright.async_api import async_playwright

    await stack.start()
    async with stack.http() as client:
        body = {
            "title": "Stadium Nights (bench)",
            "artist": "The Load Generators",
            "genre": "benchmark",
            "venue": {"name": "Bench Stadium", "city": "Benchville"},
            "starts_at": "2031-07-01T19:00:00+00:00",
            "on_sale_at": "2026-01-01T10:00:00+00:00",
            "currency": "EUR",
            "sections": STADIUM,
        }
        created = await client.post("/api/v1/concerts", json=body, headers=stack.admin_headers)
        created.raise_for_status()
        concert_id = created.json()["id"]
    url = f"{stack.service.base_url}/concerts/{concert_id}"
    print(f"    page: {url}", flush=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=args.chromium)
        try:
            await load_once(browser, url, args)  # unmeasured: the server's caches warm up
            for n in range(1, args.loads + 1):
                row = await load_once(browser, url, args)
                print(
                    f"    load {n}: {row['bytes']:,} bytes in {row['requests']} responses, "
                    f"map drawn at {row['map_ms']:,} ms",
                    flush=True,
                )
                results.rows.append({"phase": f"load {n}", **row})
        finally:
            await browser.close()


def derive(results: Results) -> None:
    if not results.rows:
        return
    results.derived = {
        "bytes_median": statistics.median(r["bytes"] for r in results.rows),
        "map_ms_median": statistics.median(r["map_ms"] for r in results.rows),
    }


def print_table(results: Results) -> None:
    print_header(f"{'load':<10} {'bytes':>10} {'responses':>10} {'map drawn ms':>13}")
    for r in results.rows:
        print(f"{r['phase']:<10} {r['bytes']:>10,} {r['requests']:>10} {r['map_ms']:>13,}")
    d = results.derived
    if d:
        met = d["bytes_median"] <= TARGET_BYTES and d["map_ms_median"] <= TARGET_MS
        print(
            f"\n  median: {d['bytes_median']:,.0f} bytes, "
            f"map drawn at {d['map_ms_median']:,.0f} ms; "
            f"target <= {TARGET_BYTES:,} bytes and <= {TARGET_MS:,} ms: "
            f"{'met' if met else 'NOT met'}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    settings = settings_of(args, "loads", "chromium", "cpu_slowdown")
    settings["network"] = MOBILE_NETWORK
    banner = (
        f"Encore concert page on a phone: {args.loads} cold loads of a 50,000-seat stadium, "
        f"1.6 Mbps / 150 ms, CPU / {args.cpu_slowdown:g}"
    )
    return bench_main("page", args, banner, settings, run, derive, print_table)


if __name__ == "__main__":
    sys.exit(main())

"""How the cyclic garbage collector runs in a serving process.

CPython collects its youngest generation whenever the count of container objects allocated
and not yet freed passes a threshold: 700 by default. A worker answering a few thousand
requests a second passes 700 about a hundred times a second, and each time every object of
the requests then in flight (coroutines, frames, request state) is alive, so it survives into
the next generation; promoted that fast, the older generations are collected every few
seconds too. bench/openloop.py measured it with gc.callbacks at 70 % of the maximum rate:
under load a worker spent a noticeable share of its time collecting, in pauses that every
request then in flight waited through, and they set the latency tail (docs/performance.md,
"Figures moved out of code comments").

So, at the end of startup, once per process:
- everything built by then (the app, routes, pools, scripts) lives as long as the process:
  `gc.freeze()` moves it out of the collector's sight, so no collection walks it again;
- the youngest generation is collected after `young_threshold` allocations (50,000 by
  default, `GC_YOUNG_THRESHOLD`): a collection every few seconds per worker, each short,
  and little promoted (almost nothing the requests allocate is cyclic: reference counting
  frees it). The older generations keep CPython's ratios (10 and 10). 0 keeps CPython's
  thresholds as they are.
"""

from __future__ import annotations

import gc

__all__ = ["settle_collector"]

_FROZEN = False


def settle_collector(young_threshold: int) -> None:
    """Freeze what startup built (once per process; tests start many apps in one) and set the
    youngest generation's threshold (0: leave CPython's)."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.collect()  # today's garbage is freed, not frozen
        gc.freeze()
    if young_threshold > 0:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, older, oldest)

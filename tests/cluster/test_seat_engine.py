"""The seat engine's whole suite (tests/seats) again, on the Redis Cluster: the hold race
(500 buyers for one seat: one hold), random overlapping multi-seat holds that never overlap,
the control test that proves the race test catches a non-atomic hold, expiry, the sweeper,
caps, sales, rebuilds and reconciliation's scripts. Their concerts spread over all three
masters (test_layout.py checks that a handful always does)."""

from __future__ import annotations

from tests.cluster.reuse import borrowed, install
from tests.seats import conftest as engine_fixtures
from tests.seats import test_engine, test_reconcile_script

install(
    globals(),
    borrowed(engine_fixtures, fixtures=["engine", "concert"]),
    borrowed(test_engine),
    borrowed(test_reconcile_script),
)

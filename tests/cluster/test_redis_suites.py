"""The suites of every other Redis user, again on the Redis Cluster: idempotency keys, the
simulated payment provider's intents, the domain event stream and its consumer groups, the
waiting room's scripts, and the singleton jobs' lease. A few slow timing tests already proven
on one Redis are skipped here (named below, to keep the added time small); nothing they do is
cluster-specific beyond what the kept tests do."""

from __future__ import annotations

from tests.cluster.reuse import borrowed, install
from tests.events import conftest as event_fixtures
from tests.events import test_consumer, test_publisher
from tests.payments import conftest as payment_fixtures
from tests.payments import test_simulated
from tests.platform import test_idempotency
from tests.waiting_room import test_engine as queue_engine
from tests.workers import test_lease

install(
    globals(),
    # The module's own `redis` fixture (TEST_REDIS_URL) is not copied: the cluster's is used.
    # The cancellation test drops a single server's pool (`connection_pool.disconnect()`).
    borrowed(test_idempotency, skip=["test_a_cancelled_call_frees_the_key"], fixtures=["h"]),
    borrowed(payment_fixtures, fixtures=["simulated"]),
    borrowed(test_simulated),
    borrowed(event_fixtures, fixtures=["stream"]),
    borrowed(test_publisher),
    borrowed(
        test_consumer,
        skip=[
            "test_a_dead_consumers_entries_are_taken_over",
            "test_run_recreates_a_deleted_stream_and_keeps_consuming",
            "test_run_survives_redis_being_unreachable_and_stops_when_cancelled",
        ],
        fixtures=["publisher"],
    ),
    borrowed(
        queue_engine,
        skip=[
            "test_presale_joiners_are_admitted_in_random_order",
            "test_two_admission_loops_respect_the_rate_under_polling",
        ],
        fixtures=["engine"],
    ),
    borrowed(test_lease, skip=["test_two_loops_never_run_the_job_at_once_and_fail_over_on_stop"]),
)

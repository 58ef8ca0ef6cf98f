"""The presale lottery again on the Redis Cluster: its keys share the hash tag {lot:<concert>},
so registration and the draw's commit are single-slot scripts; the queue's winners' gate is in
the queue's own slot. Borrowed: registration once, the draw recomputed and winners first
(a loser and a fan who did not register get no pass and no hold), the window errors, and
10,000 concurrent registrations with two racing draws; and the lottery healing after Redis
loses everything (registrations and the draw rebuilt from the store, the same draw)."""

from __future__ import annotations

from tests.cluster.reuse import borrowed, install
from tests.waiting_room import test_lottery, test_lottery_concurrency, test_lottery_recovery

install(
    globals(),
    borrowed(
        test_lottery,
        only=[
            "test_register_once_then_drawn_and_recomputed_and_winners_first",
            "test_window_and_not_a_lottery",
        ],
        fixtures=["lottery_app", "lc", "lottery_admin"],
    ),
    borrowed(test_lottery_concurrency),
    borrowed(test_lottery_recovery),
)

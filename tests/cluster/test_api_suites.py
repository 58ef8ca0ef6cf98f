"""The HTTP API's tests again, with the whole app (background jobs included) on the Redis
Cluster: holds and the seat map (100 concurrent buyers for one seat, best available, idempotent
holds, warm-up, a layout reset, the rebuild after a FLUSHALL of every master), the checkout
journey (hold -> checkout -> simulated payment through the signed webhook -> confirmed with
tickets, seats sold; concurrent webhook copies; cancel; a refund putting seats back on sale; a
late payment refunded once), the per-buyer cap (checked-out holds, a late payment past the cap
refunded once), the waiting room (join, admission, passes on holds and checkout, organisers'
stats, a confirmed order freeing a slot through the event stream's consumer group and the
freed slot's pass refused), the live seat stream over SSE (pub/sub; its per-process caps are
not Redis's business and are not run again), and a rate limit's Redis windows.

Borrowed by name: the tests whose path differs on a cluster. The rest of those suites checks
HTTP and store logic that is the same whatever Redis is underneath, at ~0.2 s a test."""

from __future__ import annotations

from tests.checkout import test_api as test_checkout
from tests.cluster.reuse import borrowed, install
from tests.platform import test_ratelimit
from tests.seats import test_api_holds as test_holds
from tests.seats import test_api_stream as test_seat_stream
from tests.security import test_cap_bypass
from tests.waiting_room import test_api as test_waiting_room

install(
    globals(),
    borrowed(
        test_holds,
        only=[
            "test_hold_release_and_the_seat_map",
            "test_best_available_over_http",
            "test_concurrent_http_buyers_for_one_seat",
            "test_idempotent_hold_replays_and_refuses_reuse",
            "test_rebuild_after_flushall_keeps_sold_seats_sold",
            "test_warm_loads_the_seat_state",
            "test_layout_is_locked_while_seats_are_held",
        ],
    ),
    borrowed(
        test_checkout,
        only=[
            "test_the_buyer_journey",
            "test_checkout_replays_the_same_order_and_intent",
            "test_cancel_frees_the_seats_and_is_final",
            "test_five_concurrent_copies_of_one_event_make_one_booking",
            "test_charge_refunded_puts_the_seats_back_on_sale",
            "test_a_late_payment_for_taken_seats_is_refunded_exactly_once",
        ],
    ),
    borrowed(
        test_waiting_room,
        only=[
            "test_holds_and_checkout_need_a_pass_when_the_queue_is_on",
            "test_a_confirmed_order_frees_the_slot_for_the_next_buyer",
            "test_organisers_see_the_queue_at_a_glance",
            "test_a_pass_stops_working_once_its_slot_is_freed",
        ],
    ),
    borrowed(
        test_cap_bypass,
        only=[
            "test_releasing_checked_out_holds_does_not_reset_the_cap",
            "test_a_late_payment_that_would_pass_the_cap_is_refunded_exactly_once",
        ],
    ),
    borrowed(
        test_seat_stream,
        skip=[
            "test_stream_of_unknown_concert_is_404",
            # The stream caps and lifetime are counted in the process, not in Redis: their
            # tests run apps of their own on the plain test Redis, and need not run again here.
            "test_streams_beyond_the_per_address_cap_are_refused_with_retry_after",
            "test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_counted",
            "test_a_closed_stream_gives_its_place_back_even_when_the_client_vanishes",
            "test_streams_beyond_the_process_cap_are_refused",
            "test_a_refused_or_unknown_concert_takes_no_place",
            "test_a_stream_ends_after_its_lifetime_with_a_retry_hint_and_reconnects",
            "test_lifetimes_are_spread_so_a_crowd_does_not_come_back_at_once",
        ],
        fixtures=["live_url"],
    ),
    borrowed(test_ratelimit, only=["test_holds_are_limited_per_user"]),
)

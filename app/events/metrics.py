"""On-sale metrics counted beside the events (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

HOLDS_CREATED = Counter("seat_holds_created_total", "Seat holds created")
HOLDS_RELEASED = Counter(
    "seat_holds_released_total",
    "Holds whose seats went back on sale (and refunded orders' sold seats), by reason",
    ["reason"],
)
ORDERS = Counter(
    "orders_total", "Orders entering a status (pending_payment on creation)", ["status"]
)

EVENTS_PUBLISHED = Counter("events_published_total", "Domain events appended", ["type"])
EVENTS_PUBLISH_FAILED = Counter(
    "events_publish_failed_total", "Domain events lost because the append failed", ["type"]
)

EVENTS_HANDLED = Counter(
    "events_handled_total", "Stream entries handled and acknowledged", ["group", "type"]
)
EVENTS_HANDLER_FAILED = Counter(
    "events_handler_failed_total", "Handler failures (the entry stays pending)", ["group", "type"]
)
EVENTS_RECLAIMED = Counter(
    "events_reclaimed_total", "Pending entries taken over from idle consumers", ["group"]
)
EVENTS_DROPPED = Counter(
    "events_dropped_total",
    "Entries acknowledged without handling (malformed, or failed too many times)",
    ["group", "reason"],
)
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered_total",
    "Entries given up after repeated handler failures and copied to the dead-letter stream",
    ["group"],
)

EVENTBRIDGE_FORWARDED = Counter(
    "eventbridge_events_forwarded_total", "Domain events EventBridge accepted", ["type"]
)
EVENTBRIDGE_FAILED = Counter(
    "eventbridge_events_failed_total",
    "Domain events not forwarded this time (they stay pending and are sent again), by reason",
    ["type", "reason"],
)
EVENTBRIDGE_RETRIED = Counter(
    "eventbridge_entries_retried_total",
    "Entries EventBridge refused that were sent again at once, by its error code",
    ["reason"],
)

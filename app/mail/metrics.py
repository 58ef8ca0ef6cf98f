"""Mail counters (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

MAILS_SENT = Counter(
    "mails_sent_total", "Mails handed to the SMTP server (or written to the outbox)", ["kind"]
)
MAILS_FAILED = Counter(
    "mails_failed_total",
    "Mails that could not be sent after their retries (the event stays pending and is retried)",
    ["kind"],
)
MAIL_ATTEMPTS_FAILED = Counter(
    "mail_attempts_failed_total", "Failed attempts to send a mail (each retry counts)", ["kind"]
)
MAILS_SKIPPED = Counter(
    "mails_skipped_total",
    "Mails not sent: duplicate (already sent for that order), no_account, no_order, stale",
    ["kind", "reason"],
)

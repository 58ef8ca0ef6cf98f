"""The ticket-delivery consumer: the buyer of a confirmed order gets their tickets by mail
(and a refunded order's buyer hears of it): app/mail/, docs/mail.md.

Delivery is at least once (see consumer.py); the mail handler de-duplicates per (order, kind).
"""

from __future__ import annotations

import logging

from app.auth.verification import VerificationTokens
from app.events.runner import consume
from app.mail.once import SendOnce
from app.mail.sender import MAIL_TYPES, OrderMails
from app.mail.transport import build_transport, outbox_folder
from app.mail.verification import ACCOUNT_MAIL_TYPES, AccountMails
from app.platform.redis import RedisClient
from app.settings import Settings
from app.storage.ports import Store

log = logging.getLogger(__name__)

DELIVERY_TYPES = MAIL_TYPES | ACCOUNT_MAIL_TYPES  # what the handler acts on


def order_mails(
    settings: Settings,
    store: Store,
    redis: RedisClient,
    *,
    attempts: int = 3,
    backoff_seconds: float = 1.0,
) -> OrderMails:
    """The mail handler as the settings configure it (attempts and backoff: per delivery):
    the order mails, and the account's email verification links."""
    send_once = SendOnce(
        redis, build_transport(settings), attempts=attempts, backoff_seconds=backoff_seconds
    )
    return AccountMails(
        store,
        redis,
        send_once,
        tokens=VerificationTokens(settings),
        mail_from=settings.mail_from,
        public_base_url=settings.public_base_url,
    )


async def run_ticket_delivery(settings: Settings, store: Store, redis: RedisClient) -> None:
    """The background job: consume until cancelled."""
    if settings.events_enabled and settings.smtp_url is None and settings.app_env == "prod":
        log.warning(
            "SMTP_URL is not set: buyers' mails are written to %s and nobody receives them; "
            "set SMTP_URL (docs/mail.md)",
            outbox_folder(settings),
        )
    await consume(
        settings,
        settings.events_consumer_group,
        order_mails(settings, store, redis),
        types=DELIVERY_TYPES,
    )

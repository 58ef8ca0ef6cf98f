"""The handler of the ticket-delivery consumer: one mail per (order, kind), at least once.

- **Deduplicated.** A Redis key per (order, kind): `SET NX` claims it as "sending" for
  `lock_seconds` before the mail goes out, and it becomes "sent" (kept `remember_seconds`)
  once the server accepted it. A redelivered event (a crash before the XACK, a reclaim) finds
  "sent" and sends nothing; one arriving while another consumer is still sending fails and is
  retried later. A process dying between the server's acceptance and "sent" can still cause
  a second mail: at least once, as the stream.
- **Retried.** A failed attempt (the server down or refusing for now, a 4xx answer) is tried
  again with exponential backoff (tenacity), `attempts` times. A permanent refusal (5xx) is
  not tried again here. Either way the handler then fails, the entry stays pending, and the
  consumer hands it over again after EVENTS_CLAIM_MIN_IDLE_SECONDS; after 5 deliveries it goes
  to the dead-letter stream (app/events/consumer.py).
- Counted: mails_sent_total, mails_failed_total, mail_attempts_failed_total, mails_skipped_total.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from email.message import EmailMessage
from functools import partial

from aiosmtplib import SMTPRecipientsRefused, SMTPResponseException
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from app.checkout.ticket_files import TicketBundle, load_bundle
from app.events.schemas import (
    DomainEvent,
    LotteryDrawn,
    OrderConfirmed,
    OrderRefunded,
    TicketTransferred,
)
from app.mail.compose import MailKind, confirmation, refund, transferred
from app.mail.lottery import LotteryMails
from app.mail.metrics import MAIL_ATTEMPTS_FAILED, MAILS_FAILED, MAILS_SENT, MAILS_SKIPPED
from app.mail.transport import MailTransport
from app.platform.redis import RedisClient
from app.storage.ports import Store
from app.storage.records import OrderStatus

log = logging.getLogger(__name__)

# The events that send a mail.
MAIL_TYPES = frozenset({"order.confirmed", "order.refunded", "ticket.transferred", "lottery.drawn"})
_SENT = b"sent"


class MailInProgress(RuntimeError):
    """Another consumer is sending this mail right now; the event is retried later."""


def dedup_key(order_id: str, kind: MailKind) -> str:
    return f"mail:{kind}:{order_id}"


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: anything but the server's permanent refusal (5xx)."""
    if isinstance(exc, SMTPResponseException):
        return not 500 <= exc.code < 600
    if isinstance(exc, SMTPRecipientsRefused):
        return any(not 500 <= e.code < 600 for e in exc.recipients)
    return True


class OrderMails:
    def __init__(
        self,
        store: Store,
        redis: RedisClient,
        transport: MailTransport,
        *,
        mail_from: str,
        public_base_url: str,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        lock_seconds: float = 300.0,
        remember_seconds: int = 90 * 86_400,
    ) -> None:
        self._store = store
        self._redis = redis
        self._transport = transport
        self._mail_from = mail_from
        self._base_url = public_base_url
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._lock_ms = int(lock_seconds * 1000)
        self._remember = remember_seconds
        # The presale lottery's result, to every registrant (lottery.py).
        self._lottery = LotteryMails(
            store,
            redis,
            transport,
            mail_from=mail_from,
            public_base_url=public_base_url,
            attempts=attempts,
            backoff_seconds=backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
            lock_seconds=lock_seconds,
            remember_seconds=remember_seconds,
        )

    async def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, OrderConfirmed):
            await self._once(event, "confirmed")
        elif isinstance(event, OrderRefunded):
            await self._once(event, "refunded")
        elif isinstance(event, TicketTransferred):
            await self._once(event, "transferred")
        elif isinstance(event, LotteryDrawn):
            await self._lottery(event)

    async def _once(
        self, event: OrderConfirmed | OrderRefunded | TicketTransferred, kind: MailKind
    ) -> None:
        # A transfer's mail is once per (ticket, receiver): a ticket given on twice mails both.
        subject_id = (
            f"{event.ticket_id}:{event.to_user_id}"
            if isinstance(event, TicketTransferred)
            else event.order_id
        )
        user_id = event.to_user_id if isinstance(event, TicketTransferred) else event.user_id
        key = dedup_key(subject_id, kind)
        token = f"sending:{secrets.token_hex(8)}".encode()
        if not await self._redis.set(key, token, nx=True, px=self._lock_ms):
            if _bytes(await self._redis.get(key)) == _SENT:
                MAILS_SKIPPED.labels(kind, "duplicate").inc()
                log.info("mail already sent", extra={"order_id": event.order_id, "kind": kind})
                return
            raise MailInProgress(f"the {kind} mail of order {event.order_id} is being sent")
        try:
            message = await self._compose(event, kind)
            if message is not None:
                await self._send(message, f"{subject_id.replace(':', '-')}-{kind}", kind)
        except BaseException:
            if _bytes(await self._redis.get(key)) == token:
                await self._redis.delete(key)
            raise
        await self._redis.set(key, _SENT, ex=self._remember)
        if message is not None:
            MAILS_SENT.labels(kind).inc()
            log.info(
                "mail sent",
                extra={"order_id": event.order_id, "kind": kind, "user_id": user_id},
            )

    async def _compose(
        self, event: OrderConfirmed | OrderRefunded | TicketTransferred, kind: MailKind
    ) -> EmailMessage | None:
        """The mail, or None when there is nobody or nothing to write about (counted)."""
        if isinstance(event, TicketTransferred):
            bundle, giver = await self._received(event)
        else:
            bundle = await load_bundle(self._store, event.order_id)
        skip = _why_skip(bundle, kind)
        if skip is not None:
            MAILS_SKIPPED.labels(kind, skip).inc()
            log.warning(
                "mail not sent", extra={"order_id": event.order_id, "kind": kind, "why": skip}
            )
            return None
        assert bundle is not None  # _why_skip said so
        if isinstance(event, TicketTransferred):
            return await asyncio.to_thread(
                partial(
                    transferred,
                    bundle,
                    giver,
                    mail_from=self._mail_from,
                    public_base_url=self._base_url,
                )
            )
        if isinstance(event, OrderRefunded):
            return refund(
                bundle, event.reason, mail_from=self._mail_from, public_base_url=self._base_url
            )
        # The PDF is drawn off the event loop (the consumer shares it with the app's requests).
        return await asyncio.to_thread(
            partial(confirmation, bundle, mail_from=self._mail_from, public_base_url=self._base_url)
        )

    async def _received(self, event: TicketTransferred) -> tuple[TicketBundle | None, str]:
        """The giver's order with only the given ticket and the receiver as its buyer, and the
        giver's name; no bundle if the order or concert is gone, and no tickets in it if the
        ticket was given on again since (then the later transfer's mail tells)."""
        order = await self._store.orders.get(event.order_id)
        concert = await self._store.concerts.get(event.concert_id)
        if order is None or concert is None:
            return None, ""
        ticket = await self._store.tickets.get(event.order_id, event.seat_id)
        receiver = await self._store.users.get(event.to_user_id)
        giver = await self._store.users.get(event.from_user_id)
        mine = (ticket,) if ticket is not None and ticket.user_id == event.to_user_id else ()
        name = (giver.name.strip() or giver.email) if giver is not None else "Someone"
        return TicketBundle(order=order, concert=concert, tickets=mine, buyer=receiver), name

    async def _send(self, message: EmailMessage, name: str, kind: MailKind) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        await self._transport.send(message, name)
                    except Exception:
                        MAIL_ATTEMPTS_FAILED.labels(kind).inc()
                        log.warning(
                            "mail attempt failed",
                            extra={"mail": name, "attempt": attempt.retry_state.attempt_number},
                            exc_info=True,
                        )
                        raise
        except Exception:
            MAILS_FAILED.labels(kind).inc()
            raise


def _why_skip(bundle: TicketBundle | None, kind: MailKind) -> str | None:
    if bundle is None:
        return "no_order"
    if bundle.buyer is None:
        return "no_account"
    if kind in ("confirmed", "transferred") and (
        bundle.order.status is not OrderStatus.CONFIRMED or not bundle.tickets
    ):
        return "stale"  # refunded before its confirmation went out: the refund mail tells
    return None


def _bytes(value: object) -> bytes | None:
    if isinstance(value, str):
        return value.encode()
    return value if isinstance(value, bytes) else None

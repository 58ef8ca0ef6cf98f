"""Sending one mail once per key, at least once: what every mail of the ticket-delivery consumer
goes through (the order mails, the email verification link, the lottery's result).

- **Deduplicated.** A Redis key per mail (e.g. per order and kind): `SET NX` claims it as
  "sending" for `lock_seconds` before the mail goes out, and it becomes "sent" (kept
  `remember_seconds`) once the server accepted it. A redelivered event (a crash before the
  XACK, a reclaim) finds "sent" and sends nothing; one arriving while another consumer is still
  sending fails with MailInProgress and is retried later. A failure releases the claim. A
  process dying between the server's acceptance and "sent" can still cause a second mail: at
  least once, as the stream.
- **Retried.** A failed attempt (the server down or refusing for now, a 4xx answer) is tried
  again with exponential backoff (tenacity), `attempts` times. A permanent refusal (5xx) is
  not tried again here. Either way the caller then fails, the entry stays pending, and the
  consumer hands it over again after EVENTS_CLAIM_MIN_IDLE_SECONDS; after 5 deliveries it goes
  to the dead-letter stream (app/events/consumer.py).
- **Skipped.** The composer may answer a reason instead of a mail (nobody to write to, nothing
  to say any more): the key is then marked "sent" all the same, and the reason counted.
- Counted: mails_sent_total, mails_failed_total, mail_attempts_failed_total, mails_skipped_total.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtplib import SMTPRecipientsRefused, SMTPResponseException
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from app.mail.metrics import MAIL_ATTEMPTS_FAILED, MAILS_FAILED, MAILS_SENT, MAILS_SKIPPED
from app.mail.transport import MailTransport
from app.platform.redis import RedisClient

log = logging.getLogger(__name__)

_SENT = b"sent"


class MailInProgress(RuntimeError):
    """Another consumer is sending this mail right now; the event is retried later."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    message: EmailMessage
    name: str  # the mail's name in logs and in the outbox (`<name>.eml`)


# A mail to send, or why there is none.
Compose = Callable[[], Awaitable[Outgoing | str]]


def transient(exc: BaseException) -> bool:
    """Worth another attempt: anything but the server's permanent refusal (5xx)."""
    if isinstance(exc, SMTPResponseException):
        return not 500 <= exc.code < 600
    if isinstance(exc, SMTPRecipientsRefused):
        return any(not 500 <= e.code < 600 for e in exc.recipients)
    return True


def _bytes(value: object) -> bytes | None:
    if isinstance(value, str):
        return value.encode()
    return value if isinstance(value, bytes) else None


class SendOnce:
    def __init__(
        self,
        redis: RedisClient,
        transport: MailTransport,
        *,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        lock_seconds: float = 300.0,
        remember_seconds: int = 90 * 86_400,
    ) -> None:
        self._redis = redis
        self._transport = transport
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._lock_ms = int(lock_seconds * 1000)
        self._remember = remember_seconds

    async def __call__(
        self, key: str, kind: str, compose: Compose, *, context: Mapping[str, str]
    ) -> bool:
        """Send the mail `compose` makes unless the key says it was sent; True if sent now.
        `context`: what the log lines name (an order id, an account id)."""
        claim = f"sending:{secrets.token_hex(8)}".encode()
        if not await self._redis.set(key, claim, nx=True, px=self._lock_ms):
            if _bytes(await self._redis.get(key)) == _SENT:
                MAILS_SKIPPED.labels(kind, "duplicate").inc()
                log.info("mail already sent", extra={"kind": kind, **context})
                return False
            raise MailInProgress(f"the {kind} mail {key} is being sent")
        try:
            outgoing = await compose()
            if isinstance(outgoing, Outgoing):
                await self._send(outgoing, kind)
        except BaseException:
            if _bytes(await self._redis.get(key)) == claim:
                await self._redis.delete(key)
            raise
        await self._redis.set(key, _SENT, ex=self._remember)
        if isinstance(outgoing, str):
            MAILS_SKIPPED.labels(kind, outgoing).inc()
            log.info("mail not sent", extra={"kind": kind, "why": outgoing, **context})
            return False
        MAILS_SENT.labels(kind).inc()
        log.info("mail sent", extra={"kind": kind, **context})
        return True

    async def _send(self, outgoing: Outgoing, kind: str) -> None:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            retry=retry_if_exception(transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        await self._transport.send(outgoing.message, outgoing.name)
                    except Exception:
                        MAIL_ATTEMPTS_FAILED.labels(kind).inc()
                        log.warning(
                            "mail attempt failed",
                            extra={
                                "mail": outgoing.name,
                                "attempt": attempt.retry_state.attempt_number,
                            },
                            exc_info=True,
                        )
                        raise
        except Exception:
            MAILS_FAILED.labels(kind).inc()
            raise

"""The presale lottery's mails: on `lottery.drawn` every registrant hears the result, winners
when the waiting room admits them, the others their waitlist number (docs/mail.md).

One event per concert; the handler walks the draw order in Redis (app/waiting_room/lottery.py)
and mails each registrant once: a Redis key per (concert, account), claimed with SET NX while
sending and kept as "sent" afterwards, as the order mails (sender.py). A failed address does not
stop the others; the event then fails, is delivered again, and only the unsent are retried.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from html import escape

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from app.checkout.ticket_files import local_time_words, venue_words
from app.events.schemas import LotteryDrawn
from app.mail.compose import _html, _row
from app.mail.metrics import MAIL_ATTEMPTS_FAILED, MAILS_FAILED, MAILS_SENT, MAILS_SKIPPED
from app.mail.transport import MailTransport
from app.platform.redis import RedisClient
from app.storage.ports import Store
from app.storage.records import Concert, User
from app.waiting_room.lottery import LotteryEngine, enter_at

log = logging.getLogger(__name__)

PAGE = 500  # registrants read from Redis at a time
_SENT = b"sent"


class LotteryMailsFailed(RuntimeError):
    """Some registrants' mails could not be sent; the event is delivered again for them."""


def dedup_key(concert_id: str, user_id: str) -> str:
    return f"mail:lottery:{concert_id}:{user_id}"


def concert_link(public_base_url: str, concert_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/concerts/{concert_id}"


def _message(mail_from: str, user: User, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())
    message["From"] = mail_from
    message["To"] = formataddr((user.name.strip(), user.email))
    message["Date"] = format_datetime(datetime.now().astimezone())
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "encore.invalid"
    message["Message-ID"] = make_msgid("encore", domain=domain)
    return message


def won(
    concert: Concert, user: User, rank: int, *, mail_from: str, public_base_url: str
) -> EmailMessage:
    """The winner at `rank` (0-based): when the waiting room admits them, and where."""
    link = concert_link(public_base_url, concert.id)
    enter = local_time_words(concert, enter_at(concert, rank))
    message = _message(mail_from, user, f"You won the presale draw for {concert.title}")
    rows = [
        ("Concert", concert.title),
        ("Venue", venue_words(concert)),
        ("Show", local_time_words(concert)),
        ("You may enter from", enter),
    ]
    text = "\n".join(
        [
            f"Hello {user.name.strip() or 'there'},",
            "",
            f"You were drawn in the presale lottery for {concert.title}.",
            f"The waiting room lets you in from {enter} (venue time): open the concert's page "
            f"and join it before then, so you are let in at your turn: {link}",
            "",
            *(f"{label}: {value}" for label, value in rows),
            "",
            "Winners are let in in the order of the draw; your place is kept until the "
            "winners' window ends.",
        ]
    )
    message.set_content(text)
    message.add_alternative(
        _html(
            f"You won the presale draw for {concert.title}",
            [
                f"<p>You were drawn in the presale lottery for <b>{escape(concert.title)}</b>.</p>",
                f"<p>The waiting room lets you in from <b>{escape(enter)}</b> (venue time). "
                f'<a href="{escape(link)}">Open the concert\'s page</a> and join it before '
                "then.</p>",
                "<table>",
                *(_row(label, value) for label, value in rows),
                "</table>",
            ],
        ),
        subtype="html",
    )
    return message


def lost(
    concert: Concert,
    user: User,
    place: int,
    window_ends_at: datetime,
    *,
    mail_from: str,
    public_base_url: str,
) -> EmailMessage:
    """A registrant not drawn: their waitlist number (1-based) and when the waitlist starts."""
    link = concert_link(public_base_url, concert.id)
    starts = local_time_words(concert, window_ends_at)
    message = _message(
        mail_from, user, f"Presale draw for {concert.title}: you are number {place} on the waitlist"
    )
    text = "\n".join(
        [
            f"Hello {user.name.strip() or 'there'},",
            "",
            f"You were not drawn this time in the presale lottery for {concert.title}.",
            f"You are number {place} on the waitlist. Seats left when the winners' window ends "
            f"({starts}, venue time) are offered to the waitlist in this order.",
            f"Join the waiting room on the concert's page to keep your turn: {link}",
        ]
    )
    message.set_content(text)
    message.add_alternative(
        _html(
            f"Presale draw for {concert.title}",
            [
                f"<p>You were not drawn this time in the presale lottery for "
                f"<b>{escape(concert.title)}</b>.</p>",
                f"<p>You are <b>number {place}</b> on the waitlist. Seats left when the winners' "
                f"window ends ({escape(starts)}, venue time) are offered to the waitlist in this "
                "order.</p>",
                f'<p><a href="{escape(link)}">Join the waiting room</a> to keep your turn.</p>',
            ],
        ),
        subtype="html",
    )
    return message


class LotteryMails:
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
        self._lottery = LotteryEngine(redis)
        self._transport = transport
        self._mail_from = mail_from
        self._base_url = public_base_url
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._lock_ms = int(lock_seconds * 1000)
        self._remember = remember_seconds

    async def __call__(self, event: LotteryDrawn) -> None:
        concert = await self._store.concerts.get(event.concert_id)
        if concert is None:
            MAILS_SKIPPED.labels("lottery", "no_concert").inc()
            return
        failed = 0
        start = 0
        while True:
            page = await self._lottery.ranked_user_ids(concert.id, start, PAGE)
            if not page:
                break
            for rank, user_id in page:
                try:
                    await self._once(concert, event, rank, user_id)
                except Exception:
                    failed += 1
                    log.warning(
                        "lottery mail failed",
                        extra={"concert_id": concert.id, "user_id": user_id},
                        exc_info=True,
                    )
            start += PAGE
        if failed:
            raise LotteryMailsFailed(f"{failed} lottery mails of concert {concert.id} not sent")

    async def _once(self, concert: Concert, event: LotteryDrawn, rank: int, user_id: str) -> None:
        kind = "lottery_won" if rank < event.winners else "lottery_lost"
        key = dedup_key(concert.id, user_id)
        token = f"sending:{secrets.token_hex(8)}".encode()
        if not await self._redis.set(key, token, nx=True, px=self._lock_ms):
            if _bytes(await self._redis.get(key)) == _SENT:
                MAILS_SKIPPED.labels(kind, "duplicate").inc()
                return
            raise RuntimeError(f"the lottery mail of {user_id} is being sent")
        try:
            user = await self._store.users.get(user_id)
            if user is None:
                MAILS_SKIPPED.labels(kind, "no_account").inc()
                message = None
            elif rank < event.winners:
                message = won(
                    concert, user, rank, mail_from=self._mail_from, public_base_url=self._base_url
                )
            else:
                message = lost(
                    concert,
                    user,
                    rank - event.winners + 1,
                    event.window_ends_at,
                    mail_from=self._mail_from,
                    public_base_url=self._base_url,
                )
            if message is not None:
                await self._send(message, f"lottery-{concert.id}-{user_id}", kind)
        except BaseException:
            if _bytes(await self._redis.get(key)) == token:
                await self._redis.delete(key)
            raise
        await self._redis.set(key, _SENT, ex=self._remember)
        if message is not None:
            MAILS_SENT.labels(kind).inc()

    async def _send(self, message: EmailMessage, name: str, kind: str) -> None:
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
                        raise
        except Exception:
            MAILS_FAILED.labels(kind).inc()
            raise


def _transient(exc: BaseException) -> bool:
    from app.mail.sender import _transient as order_transient

    return order_transient(exc)


def _bytes(value: object) -> bytes | None:
    if isinstance(value, str):
        return value.encode()
    return value if isinstance(value, bytes) else None

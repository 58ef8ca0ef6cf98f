"""The presale lottery's mails: on `lottery.drawn` every registrant hears the result, winners
when the waiting room admits them, the others their waitlist number (docs/mail.md).

One event per concert; the handler walks the draw order in Redis (app/waiting_room/lottery.py)
and mails each registrant once: a Redis key per (concert, account), claimed with SET NX while
sending and kept as "sent" afterwards, as the order mails (sender.py). A failed address does not
stop the others; the event then fails, is delivered again, and only the unsent are retried.
"""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from html import escape

from app.checkout.ticket_files import local_time_words, venue_words
from app.events.schemas import LotteryDrawn
from app.mail.compose import _html, _row, new_message
from app.mail.metrics import MAILS_SKIPPED
from app.mail.once import Outgoing, SendOnce
from app.platform.redis import RedisClient
from app.storage.ports import Store
from app.storage.records import Concert, User
from app.waiting_room.lottery import LotteryEngine, enter_at

log = logging.getLogger(__name__)

PAGE = 500  # registrants read from Redis at a time


class LotteryMailsFailed(RuntimeError):
    """Some registrants' mails could not be sent; the event is delivered again for them."""


def dedup_key(concert_id: str, user_id: str) -> str:
    return f"mail:lottery:{concert_id}:{user_id}"


def concert_link(public_base_url: str, concert_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/concerts/{concert_id}"


def won(
    concert: Concert, user: User, rank: int, *, mail_from: str, public_base_url: str
) -> EmailMessage:
    """The winner at `rank` (0-based): when the waiting room admits them, and where."""
    link = concert_link(public_base_url, concert.id)
    enter = local_time_words(concert, enter_at(concert, rank))
    message = new_message(mail_from, user, f"You won the presale draw for {concert.title}")
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
            f"The waiting room lets you in from {enter}: open the concert's page "
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
                f"<p>The waiting room lets you in from <b>{escape(enter)}</b>. "
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
    message = new_message(
        mail_from, user, f"Presale draw for {concert.title}: you are number {place} on the waitlist"
    )
    text = "\n".join(
        [
            f"Hello {user.name.strip() or 'there'},",
            "",
            f"You were not drawn this time in the presale lottery for {concert.title}.",
            f"You are number {place} on the waitlist. Seats left when the winners' window ends "
            f"({starts}) are offered to the waitlist in this order.",
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
                f"window ends ({escape(starts)}) are offered to the waitlist in this "
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
        send_once: SendOnce,
        *,
        mail_from: str,
        public_base_url: str,
    ) -> None:
        self._store = store
        self._lottery = LotteryEngine(redis)
        self._send_once = send_once
        self._mail_from = mail_from
        self._base_url = public_base_url

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

        async def compose() -> Outgoing | str:
            user = await self._store.users.get(user_id)
            if user is None:
                return "no_account"
            if rank < event.winners:
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
            return Outgoing(message, f"lottery-{concert.id}-{user_id}")

        await self._send_once(
            dedup_key(concert.id, user_id),
            kind,
            compose,
            context={"concert_id": concert.id, "user_id": user_id},
        )

"""The email verification mail (app/auth/verification.py): "Confirm your email address", with
the link, sent by the ticket-delivery consumer for `email.verification_requested`.

Deduplicated like the order mails (sender.py): a Redis key per (account, request) is claimed
(`SET NX`, "sending") before the mail goes out and becomes "sent" once the server accepted it,
so a redelivered event sends nothing. The link is minted when the mail is written, for the
account's address at that moment; an account verified meanwhile gets no mail.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from html import escape
from typing import Any

from app.auth.verification import VerificationTokens
from app.events.schemas import DomainEvent, EmailVerificationRequested
from app.mail.compose import MailKind, _html
from app.mail.metrics import MAILS_SENT, MAILS_SKIPPED
from app.mail.sender import MailInProgress, OrderMails, _bytes
from app.storage.records import User

log = logging.getLogger(__name__)

ACCOUNT_MAIL_TYPES = frozenset({"email.verification_requested"})
KIND: MailKind = "verify_email"
SUBJECT = "Confirm your email address"
_SENT = b"sent"


def verification_dedup_key(user_id: str, request_id: str) -> str:
    return f"mail:{KIND}:{user_id}:{request_id}"


def verification_mail(user: User, link: str, valid_hours: int, *, mail_from: str) -> EmailMessage:
    """ "Confirm your email address": the link, how long it works, and what to do if it was not
    you."""
    name = user.name.strip() or user.email
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = mail_from
    message["To"] = formataddr((user.name.strip(), user.email))
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "encore.invalid"
    message["Message-ID"] = make_msgid("encore", domain=domain)
    text = "\n".join(
        [
            f"Hello {name},",
            "",
            "please confirm that this is your email address by opening this link:",
            "",
            link,
            "",
            f"The link works for {valid_hours} hours. Some presales are open only to fans with "
            "a confirmed address.",
            "",
            "If you did not sign up for Encore tickets, ignore this mail: nothing happens.",
        ]
    )
    html = _html(
        SUBJECT,
        [
            f"<p>Hello {escape(name)},</p>",
            "<p>please confirm that this is your email address:</p>",
            f'<p><a href="{escape(link)}">Confirm my email address</a></p>',
            f"<p>The link works for {valid_hours} hours. Some presales are open only to fans "
            "with a confirmed address.</p>",
            "<p>If you did not sign up for Encore tickets, ignore this mail: nothing happens.</p>",
        ],
    )
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class AccountMails(OrderMails):
    """The order mails (OrderMails), plus the account's email verification link."""

    def __init__(self, *args: Any, tokens: VerificationTokens, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tokens = tokens

    async def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, EmailVerificationRequested):
            await self._verification(event)
        else:
            await super().__call__(event)

    async def _verification(self, event: EmailVerificationRequested) -> None:
        key = verification_dedup_key(event.user_id, event.request_id)
        claim = f"sending:{secrets.token_hex(8)}".encode()
        if not await self._redis.set(key, claim, nx=True, px=self._lock_ms):
            if _bytes(await self._redis.get(key)) == _SENT:
                MAILS_SKIPPED.labels(KIND, "duplicate").inc()
                return
            raise MailInProgress(
                f"the verification mail of request {event.request_id} is being sent"
            )
        try:
            user = await self._store.users.get(event.user_id)
            skip = "no_account" if user is None else "verified" if user.email_verified_at else None
            if skip is None and user is not None:
                link = self._tokens.link(self._base_url, user)
                hours = int(self._tokens.ttl.total_seconds() // 3600)
                message = verification_mail(user, link, hours, mail_from=self._mail_from)
                await self._send(message, f"verify-email-{user.id}-{event.request_id}", KIND)
        except BaseException:
            if _bytes(await self._redis.get(key)) == claim:
                await self._redis.delete(key)
            raise
        await self._redis.set(key, _SENT, ex=self._remember)
        if skip is not None:
            MAILS_SKIPPED.labels(KIND, skip).inc()
            log.info("verification mail not sent", extra={"user_id": event.user_id, "why": skip})
            return
        MAILS_SENT.labels(KIND).inc()
        log.info("verification mail sent", extra={"user_id": event.user_id})

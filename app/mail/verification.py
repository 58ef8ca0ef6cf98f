"""The email verification mail (app/auth/verification.py): "Confirm your email address", with
the link, sent by the ticket-delivery consumer for `email.verification_requested`.

Sent once per (account, request) through SendOnce (once.py), like the order mails, so a
redelivered event sends nothing. The link is minted when the mail is written, for the
account's address at that moment; an account verified meanwhile gets no mail.
"""

from __future__ import annotations

from email.message import EmailMessage
from html import escape
from typing import Any

from app.auth.verification import VerificationTokens
from app.events.schemas import DomainEvent, EmailVerificationRequested
from app.mail.compose import MailKind, _html, new_message
from app.mail.once import Outgoing
from app.mail.sender import OrderMails
from app.storage.records import User

ACCOUNT_MAIL_TYPES = frozenset({"email.verification_requested"})
KIND: MailKind = "verify_email"
SUBJECT = "Confirm your email address"


def verification_dedup_key(user_id: str, request_id: str) -> str:
    return f"mail:{KIND}:{user_id}:{request_id}"


def verification_mail(user: User, link: str, valid_hours: int, *, mail_from: str) -> EmailMessage:
    """ "Confirm your email address": the link, how long it works, and what to do if it was not
    you."""
    name = user.name.strip() or user.email
    message = new_message(mail_from, user, SUBJECT)
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
        async def compose() -> Outgoing | str:
            user = await self._store.users.get(event.user_id)
            if user is None:
                return "no_account"
            if user.email_verified_at is not None:
                return "verified"
            link = self._tokens.link(self._base_url, user)
            hours = int(self._tokens.ttl.total_seconds() // 3600)
            message = verification_mail(user, link, hours, mail_from=self._mail_from)
            return Outgoing(message, f"verify-email-{user.id}-{event.request_id}")

        await self._send_once(
            verification_dedup_key(event.user_id, event.request_id),
            KIND,
            compose,
            context={"user_id": event.user_id},
        )

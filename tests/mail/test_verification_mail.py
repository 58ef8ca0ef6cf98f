"""The email verification mail, end to end: signup publishes `email.verification_requested`,
the ticket-delivery consumer mails the link to a real SMTP server (aiosmtpd), and the link
verifies the address; a redelivered event mails nothing twice; without SMTP_URL the mail is
an .eml in the outbox (`make run`)."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI

from app.events.delivery import order_mails
from app.events.schemas import EmailVerificationRequested, from_fields
from app.mail.verification import verification_dedup_key
from app.main import create_app
from app.platform.redis import RedisClient
from tests.conftest import Account, http_client, unique_email
from tests.events.conftest import eventually, raw_entries
from tests.helpers import container_of
from tests.mail.conftest import SmtpServer, delivered, mail_settings

AUTH = "/api/v1/auth"
SUBJECT = "Confirm your email address"


@pytest.fixture
async def verify_app(
    store_overrides: dict[str, Any], stream: str, smtp: SmtpServer, redis: RedisClient
) -> AsyncIterator[FastAPI]:
    """An app with its background jobs (the mail consumer) that mails a link at signup."""
    settings = mail_settings(
        store_overrides, stream, smtp_url=smtp.url, email_verification_at_signup=True
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
    await redis.delete(stream, f"{stream}:dead")


async def signup(app: FastAPI, name: str = "Vera Rubin") -> Account:
    async with http_client(app) as client:
        r = await client.post(
            f"{AUTH}/signup",
            json={"email": unique_email("mail"), "password": "longenough-1", "name": name},
        )
        assert r.status_code == 201, r.text
        return Account(r.json(), "longenough-1")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def link_in(message: EmailMessage) -> str:
    links: list[str] = re.findall(
        r"https://tickets\.example\.com/verify-email\?token=\S+", text_of(message)
    )
    [link] = links
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert link in html.get_content().replace("&amp;", "&")
    return link


def token_of(link: str) -> str:
    [token] = parse_qs(urlsplit(link).query)["token"]
    return token


async def test_signup_mails_a_link_that_verifies_the_address(
    verify_app: FastAPI, smtp: SmtpServer
) -> None:
    account = await signup(verify_app)
    [message] = await delivered(smtp, 1, to=[account.email])
    assert message["Subject"] == SUBJECT
    assert message["To"] == f"Vera Rubin <{account.email}>"
    assert "Hello Vera Rubin," in text_of(message)
    assert "48 hours" in text_of(message)

    async with http_client(verify_app) as client:
        r = await client.post(f"{AUTH}/verify-email", json={"token": token_of(link_in(message))})
        assert r.status_code == 200, r.text
        me = await client.get(f"{AUTH}/me", headers=account.headers)
        assert me.json()["email_verified"] is True


async def test_resend_mails_a_new_link_and_both_work(verify_app: FastAPI, smtp: SmtpServer) -> None:
    account = await signup(verify_app)
    [first] = await delivered(smtp, 1, to=[account.email])
    async with http_client(verify_app) as client:
        r = await client.post(f"{AUTH}/verify-email/resend", headers=account.headers)
        assert r.status_code == 202, r.text
        _, second = await delivered(smtp, 2, to=[account.email])
        assert second["Subject"] == SUBJECT
        assert token_of(link_in(first)) != token_of(link_in(second))
        r = await client.post(f"{AUTH}/verify-email", json={"token": token_of(link_in(first))})
        assert r.status_code == 200, r.text


async def test_a_redelivered_request_mails_once_and_a_verified_account_gets_none(
    verify_app: FastAPI, smtp: SmtpServer, redis: RedisClient, stream: str
) -> None:
    c = container_of(verify_app)
    account = await signup(verify_app)
    await delivered(smtp, 1, to=[account.email])

    # The same event again, as a crash before the XACK would bring it: nothing is sent.
    entries = await raw_entries(redis, stream)
    [event] = [
        e
        for e in (
            from_fields(i, f) for i, f in entries if f[b"type"] == b"email.verification_requested"
        )
        if isinstance(e, EmailVerificationRequested) and e.user_id == account.id
    ]
    handler = order_mails(c.settings, c.store, c.redis)
    await handler(event)
    assert await redis.get(verification_dedup_key(account.id, event.request_id)) == b"sent"
    assert len([m for m in smtp.inbox.messages if m["To"].endswith(f"<{account.email}>")]) == 1

    # Verified meanwhile: a new request mails nothing.
    async with http_client(verify_app) as client:
        [message] = [m for m in smtp.inbox.messages if m["To"].endswith(f"<{account.email}>")]
        r = await client.post(f"{AUTH}/verify-email", json={"token": token_of(link_in(message))})
        assert r.status_code == 200, r.text
    await handler(EmailVerificationRequested(user_id=account.id, request_id="after-verified"))
    assert len([m for m in smtp.inbox.messages if m["To"].endswith(f"<{account.email}>")]) == 1


async def test_without_smtp_url_the_link_is_written_to_the_outbox(
    store_overrides: dict[str, Any], stream: str, tmp_path: Path, redis: RedisClient
) -> None:
    settings = mail_settings(
        store_overrides, stream, data_dir=str(tmp_path), email_verification_at_signup=True
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        account = await signup(application, name="Grace Hopper")
        outbox = tmp_path / "outbox"

        async def written() -> bool:
            return any(outbox.glob(f"verify-email-{account.id}-*.eml"))

        await eventually(written, 10)
        [eml] = outbox.glob(f"verify-email-{account.id}-*.eml")
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        assert message["Subject"] == SUBJECT
        async with http_client(application) as client:
            r = await client.post(
                f"{AUTH}/verify-email", json={"token": token_of(link_in(message))}
            )
            assert r.status_code == 200, r.text
    await redis.delete(stream, f"{stream}:dead")


async def test_the_links_token_is_not_an_access_token(
    verify_app: FastAPI, smtp: SmtpServer
) -> None:
    account = await signup(verify_app)
    [message] = await delivered(smtp, 1, to=[account.email])
    async with http_client(verify_app) as client:
        bearer = {"Authorization": f"Bearer {token_of(link_in(message))}"}
        r = await client.get(f"{AUTH}/me", headers=bearer)
        assert r.status_code == 401, r.text

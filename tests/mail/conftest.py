"""A real SMTP server (aiosmtpd) on a free port, and apps whose mails go to it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI

from app.main import create_app
from app.platform.redis import RedisClient
from tests.checkout.test_api import checkout, hold, pay
from tests.conftest import Account, admin_login, http_client, make_settings, unique_email
from tests.events.conftest import eventually
from tests.helpers import create_concert


@dataclass
class Inbox:
    """The server's handler: keeps what it accepted; refuses DATA with `refusal` (a 451, try
    again later, unless told otherwise) `refuse_next` times, or always."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse_next: int = 0
    refuse_always: bool = False
    refusal: str = "451 4.3.0 Mailbox busy, try again later"
    refused: int = 0
    over_tls: list[bool] = field(default_factory=list)  # per accepted message

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_always or self.refuse_next > 0:
            self.refuse_next = max(0, self.refuse_next - 1)
            self.refused += 1
            return self.refusal
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.over_tls.append(session.ssl is not None)
        self.envelopes.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos]))
        return "250 2.0.0 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int

    @property
    def url(self) -> str:
        return f"smtp://mailer:s3cret%2Fpass@127.0.0.1:{self.port}"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    """An SMTP server on a free port of 127.0.0.1 (AUTH offered without TLS: a test box)."""
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            inbox,
            hostname="mail.test",
            auth_require_tls=False,
            authenticator=inbox.authenticate,
        ),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield SmtpServer(inbox, port)
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def stream() -> str:
    return f"test:mail-events:{uuid.uuid4().hex}"


def mail_settings(store_overrides: dict[str, Any], stream: str, **overrides: Any) -> Any:
    # These apps' inboxes are about orders: no verification mail at signup unless a test asks
    # (tests/mail/test_verification_mail.py).
    overrides = {"email_verification_at_signup": False, **overrides}
    return make_settings(
        **store_overrides,
        events_stream=stream,
        events_consumer_block_seconds=0.1,
        reconcile_interval_seconds=0,  # no other test's orders confirmed (and mailed) here
        public_base_url="https://tickets.example.com",
        mail_from="Encore tickets <tickets@example.com>",
        **overrides,
    )


@pytest.fixture
async def mail_app(
    store_overrides: dict[str, Any], stream: str, smtp: SmtpServer, redis: RedisClient
) -> AsyncIterator[FastAPI]:
    """An app with its background jobs, the ticket-delivery consumer included, on this test's
    stream, sending to the test's SMTP server."""
    application = create_app(mail_settings(store_overrides, stream, smtp_url=smtp.url))
    async with application.router.lifespan_context(application):
        yield application
    await redis.delete(stream, f"{stream}:dead")


@pytest.fixture
async def quiet_app(
    store_overrides: dict[str, Any], stream: str, smtp: SmtpServer, redis: RedisClient
) -> AsyncIterator[FastAPI]:
    """The same without background jobs: the test runs the consumer itself."""
    settings = mail_settings(store_overrides, stream, smtp_url=smtp.url, sweeper_in_process=False)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
    await redis.delete(stream, f"{stream}:dead")


@pytest.fixture
async def outbox_app(
    store_overrides: dict[str, Any], stream: str, tmp_path: Path, redis: RedisClient
) -> AsyncIterator[FastAPI]:
    """An app with no SMTP_URL (as `make run`): mails go to DATA_DIR/outbox/."""
    application = create_app(mail_settings(store_overrides, stream, data_dir=str(tmp_path)))
    async with application.router.lifespan_context(application):
        yield application
    await redis.delete(stream, f"{stream}:dead")


@dataclass
class Purchase:
    buyer: Account
    concert: dict[str, Any]
    order: dict[str, Any]
    admin: dict[str, str]


SEATS = ["floor-A-3", "floor-A-1"]


async def buy(app: FastAPI, *, name: str = "Ada Lovelace") -> Purchase:
    """A buyer with an account buys two seats of a concert in Amsterdam at 19:30 local time,
    through the HTTP API; the order is confirmed (and its event in the app's stream)."""
    async with http_client(app) as client:
        admin = await admin_login(client)
        concert = await create_concert(
            client,
            admin,
            title="Zoë & the <Ångströms>",
            artist="The Testers",
            venue={"name": "Paradiso", "city": "Amsterdam", "time_zone": "Europe/Amsterdam"},
            starts_at="2031-06-06T17:30:00+00:00",
        )
        r = await client.post(
            "/api/v1/auth/signup",
            json={"email": unique_email("buyer"), "password": "correct-horse-1", "name": name},
        )
        assert r.status_code == 201, r.text
        buyer = Account(r.json(), "correct-horse-1")
        h = await hold(client, concert["id"], buyer.headers, SEATS)
        r = await checkout(client, h["id"], buyer.headers)
        assert r.status_code == 201, r.text
        order = r.json()["order"]
        r = await pay(client, r.json()["payment"]["payment_intent_id"], buyer.headers)
        assert r.status_code == 200, r.text
        r = await client.get(f"/api/v1/orders/{order['id']}", headers=buyer.headers)
        assert r.json()["status"] == "confirmed", r.text
        return Purchase(buyer, concert, r.json(), admin)


async def delivered(
    smtp: SmtpServer, count: int, seconds: float = 10.0, *, to: Sequence[str] = ()
) -> list[EmailMessage]:
    """The first `count` messages received (for the recipients `to` only, when given: an app
    with its background jobs may also mail other tests' buyers, e.g. after reconciling their
    orders in the shared store)."""

    def wanted() -> list[EmailMessage]:
        return [
            message
            for message, (_, recipients) in zip(
                smtp.inbox.messages, smtp.inbox.envelopes, strict=True
            )
            if not to or set(recipients) <= set(to)
        ]

    async def enough() -> bool:
        return len(wanted()) >= count

    await eventually(enough, seconds)
    return wanted()[:count]

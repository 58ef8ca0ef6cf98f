"""The presale lottery's mails, to a real SMTP server (aiosmtpd): after the draw every
registrant is mailed once, winners when the waiting room lets them in (venue time), the others
their waitlist number; the event delivered again sends nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi import FastAPI

from app.main import create_app
from app.platform.redis import build_redis
from tests.conftest import TEST_REDIS_URL, Account, admin_login, http_client, unique_email
from tests.helpers import CONCERTS, container_of, create_concert
from tests.mail.conftest import SmtpServer, delivered, mail_settings
from tests.waiting_room.test_lottery import lottery_queue, until_drawn

# A Redis database of its own: the draw job of another test's app (on another event stream)
# must not announce this test's draw.
LOTTERY_MAIL_REDIS = f"{TEST_REDIS_URL.rsplit('/', 1)[0]}/11"


@pytest.fixture
async def lottery_mail_app(
    store_overrides: dict[str, Any], stream: str, smtp: SmtpServer
) -> AsyncIterator[FastAPI]:
    redis = build_redis(LOTTERY_MAIL_REDIS, 5.0)
    await redis.flushdb()
    settings = mail_settings(
        store_overrides,
        stream,
        smtp_url=smtp.url,
        redis_url=LOTTERY_MAIL_REDIS,
        lottery_require_verified_email=False,
        lottery_draw_interval_seconds=0.3,
    )
    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await redis.flushdb()
        await redis.aclose()


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_winners_and_losers_are_mailed_once(
    lottery_mail_app: FastAPI, smtp: SmtpServer
) -> None:
    async with http_client(lottery_mail_app) as client:
        admin = await admin_login(client)
        now = datetime.now(UTC).replace(microsecond=0)
        closes = now + timedelta(seconds=3)
        concert = await create_concert(
            client,
            admin,
            title="Zoë & the <Ångströms>",
            venue={"name": "Paradiso", "city": "Amsterdam", "time_zone": "Europe/Amsterdam"},
            on_sale_at="2031-06-01T08:00:00+00:00",
            starts_at="2031-06-06T17:30:00+00:00",
            queue=lottery_queue(now - timedelta(minutes=1), closes, 1),
        )
        fans: list[Account] = []
        for name in ("Ada", "Grace", "Edsger"):
            r = await client.post(
                "/api/v1/auth/signup",
                json={"email": unique_email("fan"), "password": "correct-horse-1", "name": name},
            )
            assert r.status_code == 201, r.text
            fans.append(Account(r.json(), "correct-horse-1"))
        for fan in fans:
            r = await client.post(f"{CONCERTS}/{concert['id']}/registrations", headers=fan.headers)
            assert r.status_code == 201, r.text
        drawn = await until_drawn(client, concert["id"])
        assert drawn["winners_drawn"] == 1
        emails = [fan.email for fan in fans]
        messages = await delivered(smtp, 3, seconds=20.0, to=emails)

        by_recipient = {str(m["To"]).rsplit("<", 1)[-1].rstrip(">"): m for m in messages}
        assert sorted(by_recipient) == sorted(emails)
        standings = {}
        for fan in fans:
            me = await client.get(
                f"{CONCERTS}/{concert['id']}/registrations/me", headers=fan.headers
            )
            standings[fan.email] = me.json()
        winner = next(e for e, s in standings.items() if s["status"] == "won")
        won = by_recipient[winner]
        assert str(won["Subject"]) == "You won the presale draw for Zoë & the <Ångströms>"
        # On-sale 08:00 UTC is 10:00 in Amsterdam (summer time); the first winner enters then.
        assert "Sunday 1 June 2031, 10:00 (Europe/Amsterdam)" in _text(won)
        assert f"https://tickets.example.com/concerts/{concert['id']}" in _text(won)
        for email, standing in standings.items():
            if email == winner:
                continue
            assert standing["status"] == "lost"
            message = by_recipient[email]
            place = standing["waitlist_position"]
            assert f"number {place} on the waitlist" in str(message["Subject"])
            assert f"You are number {place} on the waitlist." in _text(message)

        # The event delivered again: nobody is mailed twice.
        c = container_of(lottery_mail_app)
        lottery = c.waiting_room.lottery
        assert lottery is not None
        loaded = await c.catalogue.load(concert["id"])
        draw = await lottery.drawn(loaded)
        assert draw is not None
        await c.events.publish(lottery.announcement(loaded, draw))
        await asyncio.sleep(2.0)
        assert len(smtp.inbox.messages) == 3

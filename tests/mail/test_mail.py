"""The buyer's mails, from the order's event in the stream to the message a real SMTP server
(aiosmtpd) accepted: its parts and attachments read back, dedup, retries, the dead letter, and
the outbox that `make run` uses."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtplib import SMTPDataError
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import SecretStr
from redis.typing import EncodableT, FieldT

from app.events.consumer import EventConsumer
from app.events.delivery import DELIVERY_TYPES, order_mails, run_ticket_delivery
from app.events.runner import dead_letter_stream
from app.events.schemas import from_fields
from app.mail.sender import dedup_key
from app.platform.redis import RedisClient
from app.settings import Settings
from tests.conftest import http_client
from tests.events.conftest import eventually, raw_entries
from tests.helpers import container_of
from tests.mail.conftest import SmtpServer, buy, delivered
from tests.ticket_files import (
    crlf_lines_only,
    only_event,
    page_objects,
    page_texts,
    qr_codes_on_page,
)

TITLE = "Zoë & the <Ångströms>"
WHEN = "Friday 6 June 2031, 19:30 (Europe/Amsterdam)"
SEAT_WORDS = {"floor-A-1": "Floor, row A, seat 1", "floor-A-3": "Floor, row A, seat 3"}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    """filename -> (content type, bytes)"""
    found = {}
    for part in message.iter_attachments():
        assert isinstance(part, EmailMessage)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found[part.get_filename() or ""] = (part.get_content_type(), payload)
    return found


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None
    assert part.get_content_type() == f"text/{kind}"
    content = part.get_content()
    assert isinstance(content, str)
    return content


async def test_a_confirmed_order_s_buyer_gets_their_tickets_and_the_show_by_mail(
    mail_app: FastAPI, smtp: SmtpServer
) -> None:
    sent_before = metric("mails_sent_total", kind="confirmed")
    p = await buy(mail_app)

    [message] = await delivered(smtp, 1, to=[p.buyer.email])

    order_id = p.order["id"]
    link = f"https://tickets.example.com/orders/{order_id}"
    assert set(smtp.inbox.logins) == {("mailer", "s3cret/pass")}  # from SMTP_URL, %-decoded
    assert ("tickets@example.com", [p.buyer.email]) in smtp.inbox.envelopes
    assert message["Subject"] == f"Your tickets for {TITLE}"
    assert message["From"] == "Encore tickets <tickets@example.com>"
    assert message["To"] == f"Ada Lovelace <{p.buyer.email}>"
    assert message["Message-ID"]
    assert message.get_content_type() == "multipart/mixed"

    text = body(message, "plain")
    for words in (TITLE, "The Testers", WHEN, "Paradiso, Amsterdam", "EUR 100.00", link):
        assert words in text, words
    for words in SEAT_WORDS.values():
        assert f"  - {words}" in text
    assert "Hello Ada Lovelace," in text

    html = body(message, "html")
    assert "Zoë &amp; the &lt;Ångströms&gt;" in html  # escaped, never markup
    assert TITLE not in html
    assert f'<a href="{link}">' in html
    assert "<li>Floor, row A, seat 3</li>" in html
    assert "EUR 100.00" in html

    files = attachments(message)
    assert set(files) == {"tickets.pdf", "concert.ics"}
    pdf_type, pdf = files["tickets.pdf"]
    assert pdf_type == "application/pdf"
    assert page_objects(pdf) == 2
    tickets = {t["seat_id"]: t for t in p.order["tickets"]}
    pages = page_texts(pdf)
    for index, seat_id in enumerate(p.order["seat_ids"]):
        assert SEAT_WORDS[seat_id] in pages[index]
        assert "Ada Lovelace" in pages[index]
        assert WHEN in pages[index]
    scanned = [qr_codes_on_page(pdf, 0), qr_codes_on_page(pdf, 1)]
    assert scanned == [[tickets[seat]["code"]] for seat in p.order["seat_ids"]]
    # What the mailed pages decode to is what the door admits.
    async with http_client(mail_app) as client:
        admitted = await client.post(
            f"/api/v1/concerts/{p.concert['id']}/check-ins",
            json={"code": scanned[0][0]},
            headers=p.admin,
        )
    assert admitted.status_code == 200, admitted.text
    assert admitted.json()["seat_id"] == p.order["seat_ids"][0]
    # The same bytes the tickets route serves, but for the creation date in the file.
    async with http_client(mail_app) as client:
        r = await client.get(f"/api/v1/orders/{order_id}/tickets.pdf", headers=p.buyer.headers)
    assert r.status_code == 200
    assert page_texts(r.content) == pages

    ics_type, ics = files["concert.ics"]
    assert ics_type == "text/calendar"
    assert crlf_lines_only(ics)
    assert ics.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"\r\nDTSTART:20310606T173000Z\r\n" in ics
    assert b"\r\nDTEND:20310606T203000Z\r\n" in ics
    event = only_event(ics)
    assert str(event["UID"]) == f"concert-{p.concert['id']}@encore"
    assert event.decoded("DTSTART") == datetime(2031, 6, 6, 17, 30, tzinfo=UTC)
    assert str(event["SUMMARY"]) == f"{TITLE} (The Testers)"
    assert str(event["LOCATION"]) == "Paradiso, Amsterdam"
    assert b"LOCATION:Paradiso\\, Amsterdam\r\n" in ics  # the comma escaped on the wire
    assert link in str(event["DESCRIPTION"])
    assert metric("mails_sent_total", kind="confirmed") == sent_before + 1

    # The organiser refunds it: a second mail, with no tickets attached.
    async with http_client(mail_app) as client:
        r = await client.post(f"/api/v1/orders/{order_id}/refund", headers=p.admin)
    assert r.status_code == 200, r.text
    _, refund = await delivered(smtp, 2, to=[p.buyer.email])
    assert refund["Subject"] == f"Refund: your order for {TITLE}"
    refund_text = body(refund, "plain")
    assert "The organiser refunded your order. EUR 100.00 goes back" in refund_text
    assert "Its tickets no longer admit anyone at the door." in refund_text
    assert link in refund_text
    assert attachments(refund) == {}


async def test_with_no_smtp_url_mails_are_written_to_the_outbox(
    outbox_app: FastAPI, tmp_path: Path
) -> None:
    p = await buy(outbox_app, name="Grace Hopper")
    eml = tmp_path / "outbox" / f"{p.order['id']}-confirmed.eml"

    async def written() -> bool:
        return eml.exists()

    await eventually(written, 10)
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"Your tickets for {TITLE}"
    assert message["To"] == f"Grace Hopper <{p.buyer.email}>"
    assert "Hello Grace Hopper," in body(message, "plain")
    files = attachments(message)
    assert page_objects(files["tickets.pdf"][1]) == 2
    assert only_event(files["concert.ics"][1])["UID"] == f"concert-{p.concert['id']}@encore"
    assert [f.name for f in eml.parent.iterdir()] == [eml.name]  # no drafts left behind


async def test_a_redelivered_event_sends_no_second_mail(
    quiet_app: FastAPI, smtp: SmtpServer, redis: RedisClient, stream: str
) -> None:
    c = container_of(quiet_app)
    p = await buy(quiet_app)
    consumer = EventConsumer(
        redis,
        stream=stream,
        group="mail-test",
        handler=order_mails(c.settings, c.store, c.redis),
        name="w",
        block_ms=10,
        start_id="0",
        types=DELIVERY_TYPES,
    )
    await consumer.ensure_group()
    assert await consumer.read_new() >= 1
    assert len(smtp.inbox.messages) == 1
    skipped_before = metric("mails_skipped_total", kind="confirmed", reason="duplicate")

    # The same event again, as a crash before the XACK or a second publisher would bring it.
    [(_, fields)] = [
        (i, f) for i, f in await raw_entries(redis, stream) if f[b"type"] == b"order.confirmed"
    ]
    again: dict[FieldT, EncodableT] = {bytes(k): v for k, v in fields.items()}
    await redis.xadd(stream, again)
    assert await consumer.read_new() == 1
    await asyncio.sleep(0.1)
    assert len(smtp.inbox.messages) == 1
    assert metric("mails_skipped_total", kind="confirmed", reason="duplicate") == skipped_before + 1
    assert await redis.get(dedup_key(p.order["id"], "confirmed")) == b"sent"


async def test_a_refusal_is_retried_with_backoff_and_the_mail_goes_out(
    mail_app: FastAPI, smtp: SmtpServer
) -> None:
    smtp.inbox.refuse_next = 1
    attempts_before = metric("mail_attempts_failed_total", kind="confirmed")
    failed_before = metric("mails_failed_total", kind="confirmed")

    p = await buy(mail_app)

    [message] = await delivered(smtp, 1, to=[p.buyer.email])
    assert smtp.inbox.refused == 1
    assert message["To"] == f"Ada Lovelace <{p.buyer.email}>"
    assert metric("mail_attempts_failed_total", kind="confirmed") == attempts_before + 1
    assert metric("mails_failed_total", kind="confirmed") == failed_before


async def test_a_mail_that_keeps_failing_goes_to_the_dead_letter_stream(
    quiet_app: FastAPI, smtp: SmtpServer, redis: RedisClient, stream: str
) -> None:
    c = container_of(quiet_app)
    smtp.inbox.refuse_always = True
    failed_before = metric("mails_failed_total", kind="confirmed")
    dead_before = metric("events_dead_lettered_total", group="mail-test")
    p = await buy(quiet_app)
    handler = order_mails(c.settings, c.store, c.redis, attempts=2, backoff_seconds=0.01)
    dead = dead_letter_stream(c.settings)
    consumer = EventConsumer(
        redis,
        stream=stream,
        group="mail-test",
        handler=handler,
        name="w",
        block_ms=10,
        start_id="0",
        claim_min_idle_ms=50,
        max_deliveries=2,
        types=DELIVERY_TYPES,
        dead_letter=dead,
    )
    await consumer.ensure_group()
    await consumer.read_new()  # delivery 1: two attempts refused
    for _ in range(2):  # delivery 2: refused again; delivery 3: given up
        await asyncio.sleep(0.08)
        await consumer.reclaim()

    assert smtp.inbox.refused == 4
    assert smtp.inbox.messages == []
    assert metric("mails_failed_total", kind="confirmed") == failed_before + 2
    assert metric("events_dead_lettered_total", group="mail-test") == dead_before + 1
    assert int((await redis.xpending(stream, "mail-test"))["pending"]) == 0
    [(_, buried)] = await raw_entries(redis, dead)
    assert buried[b"type"] == b"order.confirmed"
    assert buried[b"group"] == b"mail-test"
    assert buried[b"deliveries"] == b"3"
    original = dict(await raw_entries(redis, stream))
    assert buried[b"entry_id"] in original
    assert await redis.get(dedup_key(p.order["id"], "confirmed")) is None

    # The server is back: the dead letter added back to the stream sends the mail.
    smtp.inbox.refuse_always = False
    await redis.xadd(stream, {k: buried[k] for k in (b"v", b"type", b"data")})
    assert await consumer.read_new() == 1
    [message] = smtp.inbox.messages
    assert message["Subject"] == f"Your tickets for {TITLE}"


async def test_a_permanent_refusal_is_not_retried_within_a_delivery(
    quiet_app: FastAPI, smtp: SmtpServer, redis: RedisClient, stream: str
) -> None:
    c = container_of(quiet_app)
    p = await buy(quiet_app)
    [(entry_id, fields)] = [
        (i, f) for i, f in await raw_entries(redis, stream) if f[b"type"] == b"order.confirmed"
    ]
    smtp.inbox.refuse_always = True
    smtp.inbox.refusal = "550 5.7.1 Not accepted here"
    handler = order_mails(c.settings, c.store, c.redis, attempts=3, backoff_seconds=0.01)

    with pytest.raises(SMTPDataError, match="Not accepted here"):
        await handler(from_fields(entry_id, fields))

    assert smtp.inbox.refused == 1  # the consumer's redeliveries still try it again
    assert await redis.get(dedup_key(p.order["id"], "confirmed")) is None


def test_smtp_url_and_the_mail_settings_are_checked_at_startup() -> None:
    with pytest.raises(ValueError, match="SMTP_URL must look like"):
        Settings(smtp_url=SecretStr("http://mail.example.com"))
    with pytest.raises(ValueError, match="MAIL_FROM"):
        Settings(mail_from="nobody")
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        Settings(public_base_url="tickets.example.com")
    assert Settings(smtp_url=SecretStr("smtps://u:p@mail.example.com")).smtp_url is not None


async def test_a_production_process_without_smtp_url_says_so_at_start(
    caplog: pytest.LogCaptureFixture, app: FastAPI, stream: str
) -> None:
    c = container_of(app)
    # A production configuration but for SMTP_URL (the secrets it needs don't matter here).
    settings = c.settings.model_copy(update={"app_env": "prod", "events_stream": stream})
    with caplog.at_level(logging.WARNING, logger="app.events.delivery"):
        job = asyncio.create_task(run_ticket_delivery(settings, c.store, c.redis))
        await asyncio.sleep(0.05)
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    await c.redis.delete(stream)
    [record] = [r for r in caplog.records if r.name == "app.events.delivery"]
    assert "SMTP_URL is not set" in record.getMessage()
    assert str(Path(settings.data_dir) / "outbox") in record.getMessage()

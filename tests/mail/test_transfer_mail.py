"""The receiver of a transferred ticket gets it by mail: one page with the new code."""

from __future__ import annotations

from fastapi import FastAPI

from tests.conftest import http_client, unique_email
from tests.events.conftest import eventually
from tests.mail.conftest import SmtpServer, buy, delivered
from tests.mail.test_mail import SEAT_WORDS, TITLE, WHEN, attachments, body, metric
from tests.ticket_files import only_event, page_objects, page_texts, qr_codes_on_page


async def test_the_receiver_gets_the_ticket_with_its_new_code_by_mail(
    mail_app: FastAPI, smtp: SmtpServer
) -> None:
    sent_before = metric("mails_sent_total", kind="transferred")
    p = await buy(mail_app)  # Ada Lovelace buys floor-A-1 and floor-A-3
    await delivered(smtp, 1, to=[p.buyer.email])  # her confirmation
    given = next(t for t in p.order["tickets"] if t["seat_id"] == "floor-A-3")
    async with http_client(mail_app) as client:
        r = await client.post(
            "/api/v1/auth/signup",
            json={"email": unique_email("friend"), "password": "correct-horse-1", "name": "Bo"},
        )
        assert r.status_code == 201, r.text
        friend = r.json()["user"]
        token = r.json()["access_token"]
        r = await client.post(
            f"/api/v1/tickets/{given['id']}/transfer",
            json={"email": friend["email"]},
            headers=p.buyer.headers,
        )
        assert r.status_code == 200, r.text
        r = await client.get("/api/v1/me/tickets", headers={"Authorization": f"Bearer {token}"})
        [received] = r.json()["items"]

    [message] = await delivered(smtp, 1, to=[friend["email"]])

    assert ("tickets@example.com", [friend["email"]]) in smtp.inbox.envelopes
    assert message["To"] == f"Bo <{friend['email']}>"
    assert message["Subject"] == f"Ada Lovelace gave you a ticket for {TITLE}"
    text = body(message, "plain")
    for words in ("Hello Bo,", WHEN, "Paradiso, Amsterdam", f"  - {SEAT_WORDS['floor-A-3']}"):
        assert words in text, words
    assert SEAT_WORDS["floor-A-1"] not in text  # only the ticket given
    assert "https://tickets.example.com/account" in text
    assert "Zoë &amp; the &lt;Ångströms&gt;" in body(message, "html")
    files = attachments(message)
    assert set(files) == {"tickets.pdf", "concert.ics"}
    pdf = files["tickets.pdf"][1]
    assert page_objects(pdf) == 1
    [page] = page_texts(pdf)
    assert "Bo" in page
    assert "Ada Lovelace" not in page
    assert SEAT_WORDS["floor-A-3"] in page
    assert qr_codes_on_page(pdf, 0) == [received["code"]]
    assert received["code"] != given["code"]
    assert str(only_event(files["concert.ics"][1])["UID"]) == f"concert-{p.concert['id']}@encore"

    async def counted() -> bool:
        return metric("mails_sent_total", kind="transferred") == sent_before + 1

    await eventually(counted)  # counted once the mail is marked sent, after the server's OK

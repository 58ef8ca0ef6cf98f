"""The messages and their words, built from records (no server needed)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import get_args

import pytest

from app.checkout.ticket_files import TicketBundle, money_words
from app.events.schemas import RefundReason
from app.mail.compose import confirmation, refund
from app.storage.records import OrderStatus
from tests.storage.factories import make_concert, make_order, make_ticket, make_user

FROM = "Encore tickets <tickets@example.com>"
BASE = "https://tickets.example.com/"


def bundle(**concert: str) -> TicketBundle:
    c = make_concert(**concert)
    order = make_order(concert_id=c.id, status=OrderStatus.CONFIRMED, seat_ids=("floor-A-1",))
    ticket = make_ticket(order_id=order.id, concert_id=c.id, code="a.b.c")
    return TicketBundle(order=order, concert=c, tickets=(ticket,), buyer=make_user())


def plain(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text


def test_a_title_with_a_line_break_still_makes_a_one_line_subject() -> None:
    message = confirmation(bundle(title="Night\nShift  Live"), mail_from=FROM, public_base_url=BASE)
    assert message["Subject"] == "Your tickets for Night Shift Live"


def test_the_link_to_the_order_takes_the_base_url_with_or_without_its_slash() -> None:
    b = bundle()
    for base in ("https://tickets.example.com", "https://tickets.example.com/"):
        text = plain(confirmation(b, mail_from=FROM, public_base_url=base))
        assert f"https://tickets.example.com/orders/{b.order.id}\n" in text


def test_an_account_without_a_name_is_addressed_by_its_email() -> None:
    b = bundle()
    nameless = TicketBundle(b.order, b.concert, b.tickets, buyer=make_user(name=" "))
    assert nameless.buyer is not None
    message = confirmation(nameless, mail_from=FROM, public_base_url=BASE)
    assert message["To"] == nameless.buyer.email
    assert f"Hello {nameless.buyer.email}," in plain(message)


def test_every_refund_reason_has_its_own_words() -> None:
    b = bundle()
    whys = set()
    for reason in get_args(RefundReason):
        message = refund(b, reason, mail_from=FROM, public_base_url=BASE)
        assert message["Subject"] == "Refund: your order for Night Shift"
        assert list(message.iter_attachments()) == []
        text = plain(message)
        why, _, rest = text.split("\n")[2].partition(" EUR ")
        assert rest.startswith("250.00 goes back to the card you paid with"), text
        whys.add(why)
    assert len(whys) == len(get_args(RefundReason))


@pytest.mark.parametrize(
    ("cents", "currency", "words"),
    [
        (10_000, "EUR", "EUR 100.00"),
        (123_456_789, "USD", "USD 1,234,567.89"),
        (5, "GBP", "GBP 0.05"),
        (5000, "JPY", "JPY 5,000"),
    ],
)
def test_money_in_words(cents: int, currency: str, words: str) -> None:
    assert money_words(cents, currency) == words

"""The buyer's mails as MIME messages: plain text and HTML (multipart/alternative), and for a
confirmed order the tickets as a PDF and the show as an .ics calendar file."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from html import escape
from typing import Literal

from app.checkout.calendar import concert_ics
from app.checkout.ticket_files import (
    TicketBundle,
    local_time_words,
    money_words,
    seat_words,
    venue_words,
)
from app.checkout.ticket_pdf import tickets_pdf
from app.events.schemas import RefundReason
from app.storage.records import User

MailKind = Literal["confirmed", "refunded", "transferred", "verify_email"]

_REFUND_WHY: dict[RefundReason, str] = {
    "organiser": "The organiser refunded your order.",
    "charge_refunded": "Your payment was refunded.",
    "concert_cancelled": "The concert was cancelled, so your payment was given back in full.",
    "seats_taken": (
        "Your payment arrived after your seats' hold had run out and they had been sold to "
        "someone else, so your payment was given back."
    ),
    "over_limit": (
        "Your payment arrived after your seats' hold had run out, and holding them again would "
        "have taken you past this concert's ticket limit, so your payment was given back."
    ),
}


def order_link(public_base_url: str, order_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/orders/{order_id}"


def new_message(mail_from: str, to: User, subject: str) -> EmailMessage:
    """A mail to an account, with its headers: every mail of the service starts here."""
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())  # a header holds no line breaks
    message["From"] = mail_from
    message["To"] = formataddr((to.name.strip(), to.email))
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "encore.invalid"
    message["Message-ID"] = make_msgid("encore", domain=domain)
    return message


def _base(bundle: TicketBundle, mail_from: str, subject: str) -> EmailMessage:
    if bundle.buyer is None:
        raise ValueError("the order's buyer has no account: no address to write to")
    return new_message(mail_from, bundle.buyer, subject)


def _seat_lines(bundle: TicketBundle) -> list[str]:
    if bundle.tickets:
        return [seat_words(t) for t in bundle.tickets]
    return list(bundle.order.seat_ids)


def confirmation(bundle: TicketBundle, *, mail_from: str, public_base_url: str) -> EmailMessage:
    """ "Your tickets for ...": the concert, the seats, the total, a link to the order; the
    tickets (PDF) and the show (.ics) attached."""
    concert, order = bundle.concert, bundle.order
    link = order_link(public_base_url, order.id)
    when, where = local_time_words(concert), venue_words(concert)
    total = money_words(order.amount_cents, order.currency)
    seats = _seat_lines(bundle)
    message = _base(bundle, mail_from, f"Your tickets for {concert.title}")
    text = "\n".join(
        [
            f"Hello {bundle.buyer_name},",
            "",
            f"your order is confirmed. Your tickets for {concert.title} are attached "
            "(tickets.pdf: one page per ticket; print it or show it on your phone at the door).",
            "",
            f"Concert: {concert.title} ({concert.artist})",
            f"When:    {when}",
            f"Where:   {where}",
            "Seats:",
            *(f"  - {s}" for s in seats),
            f"Total:   {total}",
            "",
            f"Your order: {link}",
            "",
            "Add the show to your calendar with the attached concert.ics.",
            "",
            "See you there!",
        ]
    )
    html = _html(
        f"Your tickets for {concert.title}",
        [
            f"<p>Hello {escape(bundle.buyer_name)},</p>",
            f"<p>your order is confirmed. Your tickets for <strong>{escape(concert.title)}"
            "</strong> are attached (<em>tickets.pdf</em>: one page per ticket; print it or "
            "show it on your phone at the door).</p>",
            "<table>",
            _row("Concert", f"{concert.title} ({concert.artist})"),
            _row("When", when),
            _row("Where", where),
            "<tr><th>Seats</th><td><ul>"
            + "".join(f"<li>{escape(s)}</li>" for s in seats)
            + "</ul></td></tr>",
            _row("Total", total),
            "</table>",
            f'<p><a href="{escape(link)}">See your order</a></p>',
            "<p>Add the show to your calendar with the attached <em>concert.ics</em>.</p>",
            "<p>See you there!</p>",
        ],
    )
    return _with_tickets(message, text, html, bundle, link)


def refund(
    bundle: TicketBundle, reason: RefundReason, *, mail_from: str, public_base_url: str
) -> EmailMessage:
    """ "Your order for ... was refunded": why, the amount, the seats; its tickets (if any were
    issued) no longer admit anyone."""
    concert, order = bundle.concert, bundle.order
    link = order_link(public_base_url, order.id)
    total = money_words(order.amount_cents, order.currency)
    seats = _seat_lines(bundle)
    why = _REFUND_WHY[reason]
    void = (
        "Its tickets no longer admit anyone at the door."
        if bundle.tickets
        else "No tickets were issued for it."
    )
    message = _base(bundle, mail_from, f"Refund: your order for {concert.title}")
    text = "\n".join(
        [
            f"Hello {bundle.buyer_name},",
            "",
            f"{why} {total} goes back to the card you paid with (banks take a few days "
            f"to show it). {void}",
            "",
            f"Concert: {concert.title} ({concert.artist})",
            f"When:    {local_time_words(concert)}",
            f"Where:   {venue_words(concert)}",
            "Seats:",
            *(f"  - {s}" for s in seats),
            "",
            f"Your order: {link}",
        ]
    )
    html = _html(
        f"Refund: your order for {concert.title}",
        [
            f"<p>Hello {escape(bundle.buyer_name)},</p>",
            f"<p>{escape(why)} <strong>{escape(total)}</strong> goes back to the card you paid "
            f"with (banks take a few days to show it). {escape(void)}</p>",
            "<table>",
            _row("Concert", f"{concert.title} ({concert.artist})"),
            _row("When", local_time_words(concert)),
            _row("Where", venue_words(concert)),
            "<tr><th>Seats</th><td><ul>"
            + "".join(f"<li>{escape(s)}</li>" for s in seats)
            + "</ul></td></tr>",
            "</table>",
            f'<p><a href="{escape(link)}">See your order</a></p>',
        ],
    )
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def transferred(
    bundle: TicketBundle, giver: str, *, mail_from: str, public_base_url: str
) -> EmailMessage:
    """ "<giver> gave you a ticket for ...": the concert, the seat, the ticket (a one-page PDF
    with its new code and the receiver's name) and the show (.ics) attached. `bundle` is the
    giver's order with only the given ticket, and the receiver as its buyer."""
    concert = bundle.concert
    link = f"{public_base_url.rstrip('/')}/account"
    when, where = local_time_words(concert), venue_words(concert)
    seats = _seat_lines(bundle)
    subject = f"{giver} gave you a ticket for {concert.title}"
    message = _base(bundle, mail_from, subject)
    text = "\n".join(
        [
            f"Hello {bundle.buyer_name},",
            "",
            f"{giver} gave you a ticket for {concert.title}. It is attached (tickets.pdf; print "
            "it or show it on your phone at the door) and listed in your account.",
            "",
            f"Concert: {concert.title} ({concert.artist})",
            f"When:    {when}",
            f"Where:   {where}",
            "Seat:",
            *(f"  - {s}" for s in seats),
            "",
            f"Your tickets: {link}",
            "",
            "Add the show to your calendar with the attached concert.ics.",
            "",
            "See you there!",
        ]
    )
    html = _html(
        subject,
        [
            f"<p>Hello {escape(bundle.buyer_name)},</p>",
            f"<p>{escape(giver)} gave you a ticket for <strong>{escape(concert.title)}</strong>. "
            "It is attached (<em>tickets.pdf</em>; print it or show it on your phone at the "
            "door) and listed in your account.</p>",
            "<table>",
            _row("Concert", f"{concert.title} ({concert.artist})"),
            _row("When", when),
            _row("Where", where),
            "<tr><th>Seat</th><td><ul>"
            + "".join(f"<li>{escape(s)}</li>" for s in seats)
            + "</ul></td></tr>",
            "</table>",
            f'<p><a href="{escape(link)}">See your tickets</a></p>',
            "<p>See you there!</p>",
        ],
    )
    return _with_tickets(message, text, html, bundle, link)


def _row(label: str, value: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>"


def _html(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            "<style>th{text-align:left;vertical-align:top;padding-right:1em}"
            "ul{margin:0;padding-left:1.2em}</style>",
            "</head><body>",
            *body,
            "</body></html>",
        ]
    )


def _with_tickets(
    message: EmailMessage, text: str, html: str, bundle: TicketBundle, link: str
) -> EmailMessage:
    """The mail's text and HTML parts, then its tickets (PDF) and the show (.ics) attached."""
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message.add_attachment(
        tickets_pdf(bundle), maintype="application", subtype="pdf", filename="tickets.pdf"
    )
    message.add_attachment(
        concert_ics(bundle, link),
        maintype="text",
        subtype="calendar",
        filename="concert.ics",
        params={"method": "PUBLISH"},
    )
    return message

"""The show as an iCalendar file (RFC 5545), attached to the confirmation mail.

One VEVENT whose UID is the concert's (`concert-<id>@encore`): adding it again, from a second
order for the same show, updates the one entry instead of adding another. Times are written in
UTC (DTSTART/DTEND with a `Z`), which every calendar shows in its owner's zone; the venue's
local time is in the description. A concert has no end time, so the entry lasts
`SHOW_DURATION`. icalendar writes CRLF lines, folds long ones and escapes the text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from app.checkout.ticket_files import TicketBundle, local_time_words, seat_words, venue_words

SHOW_DURATION = timedelta(hours=3)


def concert_uid(concert_id: str) -> str:
    return f"concert-{concert_id}@encore"


def concert_ics(bundle: TicketBundle, order_link: str, *, now: datetime | None = None) -> bytes:
    concert = bundle.concert
    calendar = Calendar()
    calendar.add("prodid", "-//Encore//Tickets//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", concert_uid(concert.id))
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", concert.starts_at.astimezone(UTC))
    event.add("dtend", (concert.starts_at + SHOW_DURATION).astimezone(UTC))
    event.add("summary", f"{concert.title} ({concert.artist})")
    event.add("location", venue_words(concert))
    seats = "; ".join(seat_words(t) for t in bundle.tickets)
    lines = [
        f"{concert.artist} at {venue_words(concert)}.",
        f"Starts {local_time_words(concert)}.",
    ]
    if seats:
        lines.append(f"Seats: {seats}.")
    lines.append(f"Your order: {order_link}")
    event.add("description", "\n".join(lines))
    event.add("url", order_link)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    ics: bytes = calendar.to_ical()
    return ics

"""The tickets of an order as one PDF: a page per ticket with the concert, the venue, the local
time, the seat, the buyer's name and the signed code as a QR code (the door scans it).

The same bytes are served at `GET /orders/{id}/tickets.pdf` and attached to the confirmation
mail. The QR code is drawn as vector squares from segno's matrix, so it prints sharp at any
size; the text uses Bitstream Vera (shipped with reportlab, embedded), which covers far more
than the PDF base fonts' Latin-1.
"""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

import reportlab
import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from app.checkout.errors import OrderNotFound, TicketsNotIssued
from app.checkout.ticket_files import (
    TicketBundle,
    load_bundle,
    local_time_words,
    seat_words,
    venue_words,
)
from app.storage.ports import Store
from app.storage.records import OrderStatus, Ticket

_FONTS = Path(reportlab.__file__).parent / "fonts"
_REGULAR, _BOLD = "EncoreVera", "EncoreVera-Bold"
_QR_SIZE = 70 * mm  # about 1 mm per module at the codes' usual version: easy for any scanner
_MARGIN = 20 * mm


_FONTS_LOCK = threading.Lock()  # PDFs are drawn in worker threads


def _register_fonts() -> None:
    with _FONTS_LOCK:
        if _BOLD not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(_REGULAR, str(_FONTS / "Vera.ttf")))
            pdfmetrics.registerFont(TTFont(_BOLD, str(_FONTS / "VeraBd.ttf")))


def ticket_qr(code: str) -> segno.QRCode:
    """The QR code of a ticket code: always a full QR code (never a Micro QR), level M."""
    return segno.make_qr(code, error="m", boost_error=False)


def tickets_pdf(bundle: TicketBundle) -> bytes:
    """One page per ticket of the bundle (at least one ticket: callers check)."""
    _register_fonts()
    out = io.BytesIO()
    concert = bundle.concert
    canvas = Canvas(out, pagesize=A4, pageCompression=1, invariant=True)
    canvas.setTitle(f"Tickets: {concert.title}")
    canvas.setAuthor("Encore")
    canvas.setSubject(f"Order {bundle.order.id}")
    total = len(bundle.tickets)
    for n, ticket in enumerate(bundle.tickets, start=1):
        _page(canvas, bundle, ticket, n, total)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _page(canvas: Canvas, bundle: TicketBundle, ticket: Ticket, n: int, total: int) -> None:
    concert = bundle.concert
    width, height = A4
    y = height - _MARGIN
    canvas.setFont(_REGULAR, 10)
    canvas.drawString(_MARGIN, y, f"Ticket {n} of {total}")
    y -= 16 * mm
    y = _lines(canvas, concert.title, _BOLD, 22, _MARGIN, y, width - 2 * _MARGIN, 9 * mm)
    y = _lines(canvas, concert.artist, _REGULAR, 14, _MARGIN, y, width - 2 * _MARGIN, 6 * mm)
    y -= 8 * mm
    for label, value in (
        ("When", local_time_words(concert)),
        ("Where", venue_words(concert)),
        ("Seat", seat_words(ticket)),
        ("Name", bundle.buyer_name),
    ):
        canvas.setFont(_REGULAR, 10)
        canvas.drawString(_MARGIN, y, label)
        indent = _MARGIN + 22 * mm
        y = _lines(canvas, value, _BOLD, 13, indent, y, width - _MARGIN - indent, 6 * mm)
        y -= 3 * mm
    y -= 6 * mm
    _draw_qr(canvas, ticket_qr(ticket.code), _MARGIN, y - _QR_SIZE, _QR_SIZE)
    y -= _QR_SIZE + 8 * mm
    canvas.setFont(_REGULAR, 8)
    canvas.drawString(_MARGIN, y, f"Ticket {ticket.id} · order {bundle.order.id}")
    y -= 5 * mm
    canvas.drawString(
        _MARGIN,
        y,
        "Show this code at the door, on paper or on a screen. It admits one person once.",
    )


def _lines(
    canvas: Canvas, text: str, font: str, size: float, x: float, y: float, width: float, gap: float
) -> float:
    """`text` wrapped to `width` (a long title or venue name stays on the page), from
    baseline `y` down; the baseline after it."""
    canvas.setFont(font, size)
    for line in simpleSplit(text, font, size, width) or [""]:
        canvas.drawString(x, y, line)
        y -= gap
    return y


def _draw_qr(canvas: Canvas, qr: segno.QRCode, x: float, y: float, size: float) -> None:
    """The code's dark modules as filled squares, with the quiet zone the standard asks for
    (4 modules) inside `size`; runs of dark modules in a row are one rectangle each."""
    matrix = qr.matrix
    quiet = 4
    modules = len(matrix) + 2 * quiet
    unit = size / modules
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        top = y + size - (quiet + r + 1) * unit
        c = 0
        while c < len(row):
            if row[c] & 1:
                start = c
                while c < len(row) and row[c] & 1:
                    c += 1
                path.rect(x + (quiet + start) * unit, top, (c - start) * unit, unit)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)


async def owned_tickets_pdf(store: Store, user_id: str, order_id: str) -> bytes:
    """The PDF of one of the buyer's orders: OrderNotFound for anyone else's (as every order
    route), TicketsNotIssued while it has no valid tickets. Rendered off the event loop."""
    return await asyncio.to_thread(tickets_pdf, await owned_bundle(store, user_id, order_id))


async def owned_bundle(store: Store, user_id: str, order_id: str) -> TicketBundle:
    """One of the buyer's orders with valid tickets: OrderNotFound for anyone else's (as every
    order route), TicketsNotIssued while it has none (unpaid, or refunded)."""
    bundle = await load_bundle(store, order_id)
    if bundle is None or bundle.order.user_id != user_id:
        raise OrderNotFound()
    status = bundle.order.status
    if status is OrderStatus.REFUNDED:
        raise TicketsNotIssued(
            "This order was refunded: its tickets no longer admit anyone.", status=status.value
        )
    if status is not OrderStatus.CONFIRMED or not bundle.tickets:
        raise TicketsNotIssued(
            f"This order has no tickets yet (it is {status.value.replace('_', ' ')}): "
            "they are issued once it is paid.",
            status=status.value,
        )
    return bundle

"""Reading the ticket files as a buyer's programs would: the PDF's pages and text (pypdf), a
page rendered and its QR code decoded (pypdfium2, zxing-cpp), the .ics parsed (icalendar)."""

from __future__ import annotations

import io
import re

import pypdf
import pypdfium2
import zxingcpp
from icalendar import Calendar, Event


def page_objects(pdf: bytes) -> int:
    """Page objects in the file (`/Type /Page`, not `/Pages`): reportlab leaves the object
    dictionaries uncompressed, only the content streams are."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def page_texts(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [page.extract_text() for page in reader.pages]


def qr_codes_on_page(pdf: bytes, index: int) -> list[str]:
    """The QR codes a scanner reads on page `index`, rendered at 144 dpi."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[index].render(scale=2).to_pil()
    finally:
        document.close()
    return [
        found.text
        for found in zxingcpp.read_barcodes(image)
        if found.format == zxingcpp.BarcodeFormat.QRCode
    ]


def only_event(ics: bytes) -> Event:
    calendar = Calendar.from_ical(ics)
    events = [c for c in calendar.walk() if isinstance(c, Event)]
    assert len(events) == 1, events
    return events[0]


def crlf_lines_only(data: bytes) -> bool:
    """Every line ends in CRLF (RFC 5545 3.1), none in a bare LF or CR."""
    return (
        data.endswith(b"\r\n")
        and b"\n" not in data.replace(b"\r\n", b"")
        and (b"\r" not in data.replace(b"\r\n", b""))
    )

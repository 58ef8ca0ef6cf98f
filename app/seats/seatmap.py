"""The seat map of docs/api.md: per-row status strings, cut straight from the engine's state.

The engine keeps one character per seat in layout order, already in the API's alphabet
(A/H/S/X), so a row's status is a slice. The encoded JSON is cached per (concert, state
version): during an on-sale most readers ask for a version someone already encoded.
"""

from __future__ import annotations

import json

from app.seats.engine import Snapshot
from app.seats.index import seat_index
from app.storage.records import Concert


def render_seat_map(concert: Concert, snapshot: Snapshot) -> bytes:
    seats = snapshot.seats
    index = seat_index(concert)
    sections: list[dict[str, object]] = []
    rows_by_section: dict[str, list[dict[str, str]]] = {}
    for span in index.rows:
        rows = rows_by_section.get(span.section_id)
        if rows is None:
            rows = rows_by_section[span.section_id] = []
            sections.append({"id": span.section_id, "rows": rows})
        rows.append({"label": span.label, "status": seats[span.start : span.start + span.length]})
    body = {
        "concert_id": concert.id,
        "version": snapshot.version,
        "counts": {
            "available": seats.count("A"),
            "held": seats.count("H"),
            "sold": seats.count("S"),
        },
        "sections": sections,
    }
    return json.dumps(body, separators=(",", ":")).encode()


class SeatMapCache:
    """The last encoded map of each concert, keyed by state version and layout version."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._max = max_entries
        self._entries: dict[str, tuple[int, int, bytes]] = {}

    def known_version(self, concert: Concert) -> int | None:
        """The state version of this concert's cached map (for its current layout)."""
        hit = self._entries.get(concert.id)
        return hit[0] if hit is not None and hit[1] == concert.version else None

    def cached(self, concert: Concert, version: int) -> bytes | None:
        hit = self._entries.get(concert.id)
        if hit is not None and hit[0] == version and hit[1] == concert.version:
            return hit[2]
        return None

    def get(self, concert: Concert, snapshot: Snapshot) -> bytes:
        hit = self._entries.get(concert.id)
        if hit is not None and hit[0] == snapshot.version and hit[1] == concert.version:
            return hit[2]
        body = render_seat_map(concert, snapshot)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[concert.id] = (snapshot.version, concert.version, body)
        return body

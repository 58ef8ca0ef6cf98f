"""Seat ids <-> the dense indexes the seat engine uses, built once per concert layout."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from app.storage.records import Concert


@dataclass(frozen=True, slots=True)
class RowSpan:
    section_id: str
    label: str
    start: int
    length: int


class SeatIndex:
    """Seats are numbered in layout order: section by section, row by row, seat by seat."""

    __slots__ = ("position", "prices", "row_starts", "rows", "seat_ids", "size")

    def __init__(self, concert: Concert) -> None:
        seat_ids: list[str] = []
        prices: list[int] = []
        rows: list[RowSpan] = []
        for section in concert.sections:
            for row in section.rows:
                rows.append(RowSpan(section.id, row.label, len(seat_ids), len(row.seat_ids)))
                seat_ids.extend(row.seat_ids)
                prices.extend([section.price_cents] * len(row.seat_ids))
        self.seat_ids = tuple(seat_ids)
        self.position = {seat_id: i for i, seat_id in enumerate(seat_ids)}
        self.prices = tuple(prices)
        self.rows = tuple(rows)
        self.row_starts = [r.start for r in rows]
        self.size = len(seat_ids)

    def row_of(self, position: int) -> RowSpan:
        return self.rows[bisect.bisect_right(self.row_starts, position) - 1]

    def rows_of(self, section_id: str | None) -> list[tuple[int, int]]:
        """(first index, length) of each row, front rows first, optionally of one section."""
        return [
            (r.start, r.length)
            for r in self.rows
            if section_id is None or r.section_id == section_id
        ]

    def has_section(self, section_id: str) -> bool:
        return any(r.section_id == section_id for r in self.rows)

    def amount_cents(self, indexes: tuple[int, ...] | list[int]) -> int:
        return sum(self.prices[i] for i in indexes)


_CACHE: dict[tuple[str, int], SeatIndex] = {}
_CACHE_LIMIT = 256


def seat_index(concert: Concert) -> SeatIndex:
    """The index of this concert's layout; rebuilt only when the concert's version changes."""
    key = (concert.id, concert.version)
    index = _CACHE.get(key)
    if index is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        index = _CACHE[key] = SeatIndex(concert)
    return index

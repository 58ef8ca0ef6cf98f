"""Venue layouts: sections x rows x seats, with stable, human-readable seat ids.

A seat id is `<section id>-<row label>-<number>`, e.g. `floor-A-12`. Section ids are slugs of
section names (made unique), so ids stay the same as long as the layout does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.storage.records import Row, Section

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class SectionSpec:
    name: str
    price_cents: int
    rows: int
    seats_per_row: int


def row_label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, 27 -> AB ... (spreadsheet-style)."""
    label = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        label = chr(ord("A") + rem) + label
    return label


def _slug(name: str, position: int) -> str:
    slug = _SLUG_CHARS.sub("-", name.lower()).strip("-")[:40].strip("-")
    return slug or f"section-{position + 1}"


def build_sections(specs: Sequence[SectionSpec]) -> tuple[Section, ...]:
    sections: list[Section] = []
    taken: set[str] = set()
    for position, spec in enumerate(specs):
        base = _slug(spec.name, position)
        section_id, n = base, 2
        while section_id in taken:
            section_id, n = f"{base}-{n}", n + 1
        taken.add(section_id)
        rows = tuple(
            Row(
                label=(label := row_label(r)),
                seat_ids=tuple(
                    f"{section_id}-{label}-{s}" for s in range(1, spec.seats_per_row + 1)
                ),
            )
            for r in range(spec.rows)
        )
        sections.append(
            Section(id=section_id, name=spec.name, price_cents=spec.price_cents, rows=rows)
        )
    return tuple(sections)


def layout_signature(sections: Sequence[Section]) -> tuple[tuple[str, int, tuple[Row, ...]], ...]:
    """What must not change once seats are sold: which seats exist and what they cost."""
    return tuple((s.id, s.price_cents, s.rows) for s in sections)

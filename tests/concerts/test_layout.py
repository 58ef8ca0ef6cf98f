from __future__ import annotations

import pytest

from app.concerts.layout import SectionSpec, build_sections, row_label


@pytest.mark.parametrize(
    ("index", "label"),
    [(0, "A"), (1, "B"), (25, "Z"), (26, "AA"), (27, "AB"), (51, "AZ"), (52, "BA")],
)
def test_row_labels(index: int, label: str) -> None:
    assert row_label(index) == label


def test_section_ids_are_unique_slugs_and_seat_ids_stable() -> None:
    specs = [
        SectionSpec("Floor", 100, 1, 2),
        SectionSpec("floor", 100, 1, 1),
        SectionSpec("Balcony Left!", 50, 2, 1),
        SectionSpec("***", 10, 1, 1),
    ]
    sections = build_sections(specs)
    assert [s.id for s in sections] == ["floor", "floor-2", "balcony-left", "section-4"]
    assert sections[0].rows[0].seat_ids == ("floor-A-1", "floor-A-2")
    assert sections[2].rows[1].seat_ids == ("balcony-left-B-1",)
    assert build_sections(specs) == sections
    all_ids = [seat for s in sections for r in s.rows for seat in r.seat_ids]
    assert len(all_ids) == len(set(all_ids)) == 6

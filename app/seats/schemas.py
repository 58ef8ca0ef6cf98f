from __future__ import annotations

from pydantic import AwareDatetime, Field, model_validator

from app.schemas import RequestBody, ResponseBody

MAX_SEATS_PER_HOLD = 100


class HoldCreate(RequestBody):
    """Either `seat_ids` (explicit seats) or `quantity` (best available, optionally in one
    section): adjacent seats in one row when possible."""

    seat_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SEATS_PER_HOLD,
        examples=[["floor-A-1", "floor-A-2"]],
    )
    quantity: int | None = Field(default=None, ge=1, le=MAX_SEATS_PER_HOLD)
    section_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_way(self) -> HoldCreate:
        if (self.seat_ids is None) == (self.quantity is None):
            raise ValueError("send either seat_ids or quantity")
        if self.seat_ids is not None:
            if self.section_id is not None:
                raise ValueError("section_id goes with quantity, not with seat_ids")
            if len(set(self.seat_ids)) != len(self.seat_ids):
                raise ValueError("seat_ids has duplicates")
            if any(len(s) > 100 for s in self.seat_ids):
                raise ValueError("seat ids are at most 100 characters")
        return self


class HoldRead(ResponseBody):
    id: str
    concert_id: str
    seat_ids: list[str]
    expires_at: AwareDatetime
    amount_cents: int
    currency: str


class SeatCounts(ResponseBody):
    available: int
    held: int
    sold: int


class RowStatus(ResponseBody):
    label: str
    status: str = Field(
        description="One character per seat in row order: A available, H held, S sold, "
        "X not for sale."
    )


class SectionStatus(ResponseBody):
    id: str
    rows: list[RowStatus]


class SeatMap(ResponseBody):
    concert_id: str
    version: int
    counts: SeatCounts
    sections: list[SectionStatus]


class WarmResult(ResponseBody):
    concert_id: str
    seats: int
    warmed_at: AwareDatetime

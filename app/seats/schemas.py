from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from app.schemas import RequestBody, ResponseBody

MAX_SEATS_PER_HOLD = 100
SeatId = Annotated[str, Field(min_length=1, max_length=100)]

# "Either seat_ids or quantity" in the OpenAPI schema too (the validator below enforces it):
# without it the schema promised that `{}` or both at once are fine (found by Schemathesis).
_ONE_WAY: JsonDict = {
    "anyOf": [
        {
            "required": ["seat_ids"],
            "properties": {
                "seat_ids": {"type": "array"},
                "quantity": {"type": "null"},
                "section_id": {"type": "null"},
            },
        },
        {
            "required": ["quantity"],
            "properties": {"quantity": {"type": "integer"}, "seat_ids": {"type": "null"}},
        },
    ]
}


class HoldCreate(RequestBody):
    """Either `seat_ids` (explicit seats) or `quantity` (best available, optionally in one
    section): adjacent seats in one row when possible."""

    model_config = ConfigDict(json_schema_extra=_ONE_WAY)

    seat_ids: list[SeatId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SEATS_PER_HOLD,
        examples=[["floor-A-1", "floor-A-2"]],
        json_schema_extra={"uniqueItems": True},
    )
    quantity: int | None = Field(default=None, ge=1, le=MAX_SEATS_PER_HOLD, strict=True)
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

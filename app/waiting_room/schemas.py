"""The waiting room's HTTP shapes (docs/api.md, "Waiting room")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import RequestBody


class QueueJoin(RequestBody):
    """POST /concerts/{id}/queue's optional body."""

    altcha: str | None = Field(
        default=None,
        max_length=4096,
        description="The solved proof-of-work challenge (the `altcha` widget's payload), when "
        "the concert's queue asks for one (`queue.challenge`).",
    )


class QueueStatsRead(BaseModel):
    """The queue at a glance, for the organiser's live on-sale view."""

    enabled: bool
    waiting: int
    active_shoppers: int
    admitted_total: int
    admitted_per_minute: float = Field(description="Measured, averaged over about 30 s.")
    admit_per_minute: int = Field(description="Configured.")
    max_active: int


class QueueStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    state: Literal["waiting", "admitted", "closed"]
    position: int | None = Field(
        description="1-based place in line; 0 once admitted; null before the on-sale, when "
        "places are not drawn yet, and when closed."
    )
    ahead: int | None = Field(description="People in front of you (null when position is).")
    eta_seconds: int | None = Field(
        description="Estimated wait, from the measured admission rate (before the on-sale: "
        "time until it starts)."
    )
    poll_after_seconds: int = Field(
        description="Ask again after this many seconds, not sooner: the server spreads polling "
        "so that a crowd stays within its budget."
    )
    queue_depth: int = Field(description="People waiting in this queue.")
    draw_at: datetime | None = Field(
        default=None,
        description="Before the on-sale: when the places of everyone who joined early are drawn.",
    )
    pass_: str | None = Field(
        default=None,
        alias="pass",
        description="Once admitted: send it as the X-Queue-Pass header of holds and checkout.",
    )
    pass_expires_at: datetime | None = None

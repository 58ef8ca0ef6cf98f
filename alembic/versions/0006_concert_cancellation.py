"""Concerts: an organiser's cancellation (when) and its job's progress; none on existing ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "cancellation_total",
    "cancellation_refunded",
    "cancellation_cancelled",
    "cancellation_failed",
)


def upgrade() -> None:
    with op.batch_alter_table("concerts") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("cancellation_finished_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("concerts") as batch:
        for name in ("cancellation_finished_at", *reversed(_COUNTS), "cancelled_at"):
            batch.drop_column(name)

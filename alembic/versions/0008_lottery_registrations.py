"""Presale lottery registrations: one row per (concert, account), the truth the draw is
computed from (Redis mirrors them).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lottery_registrations",
        sa.Column("concert_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("entry_id", sa.String(), nullable=False),
        sa.Column("registered_at", _INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("concert_id", "user_id", name="pk_lottery_registrations"),
    )


def downgrade() -> None:
    op.drop_table("lottery_registrations")

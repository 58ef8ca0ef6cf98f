"""Concerts: the venue's IANA time zone (times are shown in it); existing concerts get UTC.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("concerts") as batch:
        batch.add_column(
            sa.Column("venue_time_zone", sa.String(), nullable=False, server_default="UTC")
        )


def downgrade() -> None:
    with op.batch_alter_table("concerts") as batch:
        batch.drop_column("venue_time_zone")

"""Users: when the email address was verified. Concerts: the waiting room's proof-of-work
challenge, and lottery mode (registration window and number of winners).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_verified_at", _INSTANT, nullable=True))
    with op.batch_alter_table("concerts") as batch:
        batch.add_column(
            sa.Column("queue_challenge", sa.Boolean(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "queue_challenge_difficulty",
                sa.Integer(),
                nullable=False,
                server_default="100000",
            )
        )
        batch.add_column(
            sa.Column("queue_mode", sa.String(), nullable=False, server_default="fifo")
        )
        batch.add_column(sa.Column("queue_registration_opens_at", _INSTANT, nullable=True))
        batch.add_column(sa.Column("queue_registration_closes_at", _INSTANT, nullable=True))
        batch.add_column(
            sa.Column("queue_winners", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("concerts") as batch:
        for name in (
            "queue_winners",
            "queue_registration_closes_at",
            "queue_registration_opens_at",
            "queue_mode",
            "queue_challenge_difficulty",
            "queue_challenge",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")

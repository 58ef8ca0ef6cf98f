"""Index orders by (concert, status): rebuilding a concert's seat state reads its open and
confirmed orders.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_concert_id_status", "orders", ["concert_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_orders_concert_id_status", table_name="orders")

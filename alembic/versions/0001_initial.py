"""Initial schema: users, refresh tokens, concerts, orders, seat sales, tickets, payment events.

Revision ID: 0001
Revises:
Create Date: 2024-11-28

Self-contained on purpose (no imports from app/): a migration describes the schema as it was
at this revision, whatever the application code looks like later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# timestamptz on PostgreSQL; on SQLite a DATETIME holding naive UTC (the app's UTCDateTime).
TIMESTAMP = sa.DateTime(timezone=True)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )

    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("family_id", sa.String(), nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("jti", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])

    op.create_table(
        "concerts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("artist", sa.String(), nullable=False),
        sa.Column("genre", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("venue_name", sa.String(), nullable=False),
        sa.Column("venue_city", sa.String(), nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("on_sale_at", TIMESTAMP, nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("max_tickets_per_user", sa.Integer(), nullable=False),
        sa.Column("queue_enabled", sa.Boolean(), nullable=False),
        sa.Column("queue_admit_per_minute", sa.Integer(), nullable=False),
        sa.Column("queue_max_active", sa.Integer(), nullable=False),
        sa.Column("sections", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_concerts"),
    )
    op.create_index("ix_concerts_starts_at_id", "concerts", ["starts_at", "id"])

    op.create_table(
        "orders",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("concert_id", sa.String(), nullable=False),
        sa.Column("hold_id", sa.String(), nullable=False),
        sa.Column("seat_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("payment_intent_id", sa.String(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("history", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("hold_id", name="uq_orders_hold_id"),
        sa.UniqueConstraint("payment_intent_id", name="uq_orders_payment_intent_id"),
    )
    op.create_index("ix_orders_user_id_created_at", "orders", ["user_id", "created_at"])
    op.create_index("ix_orders_status_expires_at", "orders", ["status", "expires_at"])

    # The primary key (concert_id, seat_id) is the no-double-sale guarantee.
    op.create_table(
        "seat_sales",
        sa.Column("concert_id", sa.String(), nullable=False),
        sa.Column("seat_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("sold_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("concert_id", "seat_id", name="pk_seat_sales"),
    )
    op.create_index("ix_seat_sales_order_id", "seat_sales", ["order_id"])

    op.create_table(
        "tickets",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("concert_id", sa.String(), nullable=False),
        sa.Column("seat_id", sa.String(), nullable=False),
        sa.Column("section", sa.String(), nullable=False),
        sa.Column("row_label", sa.String(), nullable=False),
        sa.Column("seat_number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("order_id", "seat_id", name="uq_tickets_order_id_seat_id"),
    )
    op.create_index("ix_tickets_user_id_issued_at", "tickets", ["user_id", "issued_at"])

    op.create_table(
        "payment_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_payment_events"),
    )


def downgrade() -> None:
    op.drop_table("payment_events")
    op.drop_index("ix_tickets_user_id_issued_at", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_seat_sales_order_id", table_name="seat_sales")
    op.drop_table("seat_sales")
    op.drop_index("ix_orders_status_expires_at", table_name="orders")
    op.drop_index("ix_orders_user_id_created_at", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_concerts_starts_at_id", table_name="concerts")
    op.drop_table("concerts")
    op.drop_index("ix_refresh_tokens_user_id", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("users")

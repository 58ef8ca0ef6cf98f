"""The SQL schema (SQLAlchemy Core). Alembic migrations create exactly this; a test checks it.

No foreign keys on purpose: the same contract runs on MongoDB and DynamoDB, which cannot
enforce them, so the services must not rely on them. Uniqueness is what the store enforces:
one account per email, one order per hold, one sale per (concert, seat), one ticket per
(order, seat), one record per payment event, one lottery registration per (concert, account).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from app.storage.sql.types import JsonDocument, UTCDateTime

# Deterministic constraint names, so migrations can refer to them on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", String, primary_key=True),
    Column("email", String, nullable=False),  # lower-cased by the repository
    Column("name", String, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("email_verified_at", UTCDateTime, nullable=True),
    UniqueConstraint("email"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String, primary_key=True),
    Column("user_id", String, nullable=False),
    Column("family_id", String, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index(None, "family_id"),
    Index(None, "user_id"),
)

concerts = Table(
    "concerts",
    metadata,
    Column("id", String, primary_key=True),
    Column("title", String, nullable=False),
    Column("artist", String, nullable=False),
    Column("genre", String, nullable=False),
    Column("description", Text, nullable=False),
    Column("venue_name", String, nullable=False),
    Column("venue_city", String, nullable=False),
    Column("venue_time_zone", String, nullable=False, server_default="UTC"),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("on_sale_at", UTCDateTime, nullable=False),
    Column("currency", String, nullable=False),
    Column("max_tickets_per_user", Integer, nullable=False),
    Column("queue_enabled", Boolean, nullable=False),
    Column("queue_admit_per_minute", Integer, nullable=False),
    Column("queue_max_active", Integer, nullable=False),
    Column("queue_opens_at", UTCDateTime, nullable=True),
    Column("queue_challenge", Boolean, nullable=False, server_default="0"),
    Column("queue_challenge_difficulty", Integer, nullable=False, server_default="100000"),
    Column("queue_mode", String, nullable=False, server_default="fifo"),
    Column("queue_registration_opens_at", UTCDateTime, nullable=True),
    Column("queue_registration_closes_at", UTCDateTime, nullable=True),
    Column("queue_winners", Integer, nullable=False, server_default="0"),
    # The whole layout: [{id, name, price_cents, rows: [{label, seat_ids: [...]}]}]. It is
    # always read and written as one piece, never queried into.
    Column("sections", JsonDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("cancelled_at", UTCDateTime, nullable=True),
    Column("cancellation_total", Integer, nullable=False, server_default="0"),
    Column("cancellation_refunded", Integer, nullable=False, server_default="0"),
    Column("cancellation_cancelled", Integer, nullable=False, server_default="0"),
    Column("cancellation_failed", Integer, nullable=False, server_default="0"),
    Column("cancellation_finished_at", UTCDateTime, nullable=True),
    # Keyset pagination walks (starts_at, id).
    Index(None, "starts_at", "id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String, primary_key=True),
    Column("user_id", String, nullable=False),
    Column("concert_id", String, nullable=False),
    Column("hold_id", String, nullable=False),
    Column("seat_ids", JsonDocument, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String, nullable=False),
    Column("status", String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("payment_intent_id", String, nullable=True),
    Column("version", Integer, nullable=False),
    # [{from, to, reason, at}], appended under the version guard of each transition.
    Column("history", JsonDocument, nullable=False),
    UniqueConstraint("hold_id"),
    # NULLs never collide, so orders without an intent yet are fine on both dialects.
    UniqueConstraint("payment_intent_id"),
    Index(None, "user_id", "created_at"),
    Index(None, "status", "expires_at"),
    Index(None, "concert_id", "status"),
)

# One row per sold seat. The primary key (concert_id, seat_id) is what makes a double sale
# impossible, whatever the cache in front of the store believes.
seat_sales = Table(
    "seat_sales",
    metadata,
    Column("concert_id", String, nullable=False),
    Column("seat_id", String, nullable=False),
    Column("order_id", String, nullable=False),
    Column("sold_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("concert_id", "seat_id"),
    Index(None, "order_id"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String, primary_key=True),
    Column("order_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("concert_id", String, nullable=False),
    Column("seat_id", String, nullable=False),
    Column("section", String, nullable=False),
    Column("row_label", String, nullable=False),
    Column("seat_number", Integer, nullable=False),
    Column("code", String, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    # Set by the first door scan only: `UPDATE ... WHERE checked_in_at IS NULL` decides it.
    Column("checked_in_at", UTCDateTime, nullable=True),
    UniqueConstraint("order_id", "seat_id"),
    Index(None, "user_id", "issued_at"),
)

payment_events = Table(
    "payment_events",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("event_type", String, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)

# One row per (concert, account) registered for a presale lottery: the primary key is what
# makes a second registration of an account impossible. Redis mirrors these rows; the draw is
# computed from them (docs/waiting-room.md, "Presale lottery").
lottery_registrations = Table(
    "lottery_registrations",
    metadata,
    Column("concert_id", String, nullable=False),
    Column("user_id", String, nullable=False),
    Column("entry_id", String, nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("concert_id", "user_id"),
)

"""The indexes the store relies on. Unique ones are part of the contract, not just speed:
one account per email, one order per hold, one sale per (concert, seat), one ticket per
(order, seat), one order per payment intent. (One record per payment event is the _id, and so
is one lottery registration per (concert, account).)

Names are explicit so that `initialize()` is idempotent and the names read well in errors.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from app.storage.mongo import db
from app.storage.mongo.db import MongoDatabase

TICKETS_ORDER_SEAT = "tickets_order_seat_unique"


def _index(name: str, *keys: tuple[str, int], **options: object) -> IndexModel:
    return IndexModel(list(keys), name=name, **options)


INDEXES: dict[str, list[IndexModel]] = {
    db.USERS: [
        # Emails are stored lower-cased, so this is a case-insensitive uniqueness.
        _index("users_email_unique", ("email", ASCENDING), unique=True),
    ],
    db.REFRESH_TOKENS: [
        _index("refresh_tokens_family", ("family_id", ASCENDING)),
        _index("refresh_tokens_user", ("user_id", ASCENDING)),
    ],
    db.CONCERTS: [
        # Keyset pagination walks (starts_at, id).
        _index("concerts_starts_at_id", ("starts_at", ASCENDING), ("_id", ASCENDING)),
    ],
    db.ORDERS: [
        _index("orders_hold_unique", ("hold_id", ASCENDING), unique=True),
        # Partial: orders without a payment intent yet (null) must not collide.
        _index(
            "orders_payment_intent_unique",
            ("payment_intent_id", ASCENDING),
            unique=True,
            partialFilterExpression={"payment_intent_id": {"$type": "string"}},
        ),
        # The trailing _id is the tie-break of the lists' sort order, so the index serves
        # the whole sort (here and below).
        _index(
            "orders_user_created",
            ("user_id", ASCENDING),
            ("created_at", DESCENDING),
            ("_id", DESCENDING),
        ),
        _index(
            "orders_status_expires",
            ("status", ASCENDING),
            ("expires_at", ASCENDING),
            ("_id", ASCENDING),
        ),
        _index("orders_concert_status", ("concert_id", ASCENDING), ("status", ASCENDING)),
    ],
    db.SEAT_SALES: [
        # The _id is already the (concert, seat) pair; this index states the same rule on
        # the plain fields and serves the per-concert queries.
        _index(
            "seat_sales_concert_seat_unique",
            ("concert_id", ASCENDING),
            ("seat_id", ASCENDING),
            unique=True,
        ),
        _index("seat_sales_order", ("order_id", ASCENDING)),
    ],
    db.TICKETS: [
        _index(TICKETS_ORDER_SEAT, ("order_id", ASCENDING), ("seat_id", ASCENDING), unique=True),
        _index(
            "tickets_user_issued",
            ("user_id", ASCENDING),
            ("issued_at", DESCENDING),
            ("_id", DESCENDING),
        ),
    ],
    db.LOTTERY_REGISTRATIONS: [
        # The _id is already the (concert, user) pair; this index states the same rule on the
        # plain fields and serves a concert's list and count (the draw, a Redis rebuild).
        _index(
            "lottery_registrations_concert_user_unique",
            ("concert_id", ASCENDING),
            ("user_id", ASCENDING),
            unique=True,
        ),
    ],
}


async def ensure_indexes(database: MongoDatabase) -> None:
    """Create what is missing; existing indexes of the same definition are left alone."""
    for name, models in INDEXES.items():
        await database.collection(name).create_indexes(models)

"""The one AsyncMongoClient of a store: aware UTC datetimes and bounded timeouts."""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl

from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError

from app.storage.mongo.codec import Document

# A dead or unreachable server must cost a request seconds, not the driver's defaults
# (30 s server selection, no socket timeout): the caller gets StoreUnavailable (503) quickly.
# Options spelled out in MONGO_URL win over these.
DEFAULT_OPTIONS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 3_000,
    "connectTimeoutMS": 3_000,
    "socketTimeoutMS": 10_000,
    "appname": "encore",
}


def _url_option_names(url: str) -> set[str]:
    # MongoDB URL option names are case-insensitive. Parsed by hand: pymongo's own URI parser
    # resolves mongodb+srv:// names over DNS, which is the client's job, not ours.
    query = url.partition("?")[2]
    return {name.lower() for name, _ in parse_qsl(query, keep_blank_values=True)}


def build_client(url: str) -> AsyncMongoClient[Document]:
    """A client that connects lazily (on first use), so building a store does no I/O."""
    given = _url_option_names(url)
    options = {k: v for k, v in DEFAULT_OPTIONS.items() if k.lower() not in given}
    try:
        # tz_aware + tzinfo: any BSON date that comes back is an aware UTC datetime, never
        # naive (the records themselves store instants as strings, see codec.py).
        return AsyncMongoClient(url, tz_aware=True, tzinfo=UTC, **options)
    except ConfigurationError as error:
        raise ValueError(f"MONGO_URL is not a usable MongoDB URL: {error}") from error

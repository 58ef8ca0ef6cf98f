"""Attribute values <-> Python values, and the key formats every table shares.

Datetimes are stored as fixed-width ISO-8601 UTC strings (`2030-06-01T12:00:00.123456Z`):
they sort and compare as strings exactly as the instants do, which key conditions, sort keys
and condition expressions (`expires_at > :now`) rely on. TTL attributes are epoch seconds,
the only form DynamoDB's TTL reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

from app.storage.documents import as_utc, decode_time, encode_time
from app.storage.dynamo.client import Item

# Above every stored timestamp (years are four digits) / below every one.
MAX_TIMESTAMP_KEY = "9999~"
MIN_TIMESTAMP_KEY = "0000"


# The shared fixed-width UTC encoding (see app/storage/documents.py) under this module's names.
timestamp = encode_time
parse_timestamp = decode_time


def epoch_seconds(value: datetime) -> int:
    return int(as_utc(value).timestamp())


def sort_key(moment: datetime, record_id: str) -> str:
    """`<timestamp>#<id>`: orders by (moment, id), as the SQL indexes do. The timestamp has a
    fixed width and no '#', so the first '#' always ends it."""
    return f"{timestamp(moment)}#{record_id}"


def split_sort_key(key: str) -> tuple[datetime, str]:
    moment, _, record_id = key.partition("#")
    return parse_timestamp(moment), record_id


def escape(part: str) -> str:
    """A key part that cannot contain the '#' separator, so joined keys never collide."""
    return part.replace("%", "%25").replace("#", "%23")


def shard(value: str, shards: int) -> int:
    """A stable shard number (crc32: the same in every process, unlike hash())."""
    return zlib.crc32(value.encode()) % shards


# --------------------------------------------------------------------------- values


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def ts(value: datetime) -> AttributeValueTypeDef:
    return {"S": timestamp(value)}


def string_list(values: Sequence[str]) -> AttributeValueTypeDef:
    # A list, not a string set: sets are unordered and cannot be empty.
    return {"L": [{"S": v} for v in values]}


def get_s(item: Item, name: str) -> str:
    return item[name]["S"]


def get_n(item: Item, name: str) -> int:
    return int(item[name]["N"])


def get_ts(item: Item, name: str) -> datetime:
    return parse_timestamp(item[name]["S"])


def get_optional_s(item: Item, name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value is not None and "S" in value else None


def get_optional_ts(item: Item, name: str) -> datetime | None:
    text = get_optional_s(item, name)
    return parse_timestamp(text) if text is not None else None


def get_string_list(item: Item, name: str) -> tuple[str, ...]:
    return tuple(str(v["S"]) for v in item[name]["L"])

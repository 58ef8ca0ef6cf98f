"""Attribute values <-> Python values, and the key formats every table shares.

Datetimes are stored as fixed-width ISO-8601 UTC strings (`2030-06-01T12:00:00.123456Z`):
they sort and compare as strings exactly as the instants do, which key conditions, sort keys
and condition expressions (`expires_at > :now`) rely on. TTL attributes are epoch seconds,
the only form DynamoDB's TTL reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

from app.storage.codec import Fields, InstantReader, StoredFields, as_utc, decode_time, encode_time
from app.storage.dynamo.client import Item

R = TypeVar("R")

# Above every stored timestamp (years are four digits) / below every one.
MAX_TIMESTAMP_KEY = "9999~"
MIN_TIMESTAMP_KEY = "0000"


# The shared fixed-width UTC encoding (see app/storage/codec.py) under this module's names.
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


# --------------------------------------------------------------------------- records


def attribute(value: Any) -> AttributeValueTypeDef:
    """A record field as an attribute value, by its Python type (bool before int: a bool is
    an int to Python, a BOOL to DynamoDB)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return n(value)
    if isinstance(value, str):
        return s(value)
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, list | tuple):
        # A list, not a string set: sets are unordered and cannot be empty.
        return {"L": [attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {name: attribute(v) for name, v in value.items()}}
    raise TypeError(f"no DynamoDB attribute for a {type(value).__name__}")


def item_of(fields: Fields) -> Item:
    """A record's fields as attributes. Unset (None) fields are left out: conditions such
    as `attribute_not_exists(checked_in_at)` rely on it."""
    return {name: attribute(value) for name, value in fields.items() if value is not None}


def plain(value: AttributeValueTypeDef) -> Any:
    """An attribute value as Python (instants stay strings: the record builders read them)."""
    if "S" in value:
        return value["S"]
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return value["BOOL"]
    if "L" in value:
        return [plain(v) for v in value["L"]]
    if "M" in value:
        return {name: plain(v) for name, v in value["M"].items()}
    if "B" in value:
        return value["B"]
    return None


def fields_of(item: Item) -> Fields:
    return {name: plain(value) for name, value in item.items()}


def reader(build: Callable[[StoredFields, InstantReader], R]) -> Callable[[Item], R]:
    """How records of one kind are read from their items (instants are stored as strings)."""
    return lambda item: build(fields_of(item), parse_timestamp)

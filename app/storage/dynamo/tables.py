"""The DynamoDB tables, their indexes, and creating them (docs/dynamodb.md explains the design).

Every key attribute is a string. Tables are on-demand (PAY_PER_REQUEST): an on-sale is a
burst no provisioned capacity would be sized for.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from app.storage.dynamo.client import Dynamo, bounded_gather, error_code, translated_errors
from app.storage.errors import StoreUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import (
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        ProjectionTypeDef,
    )

# Write sharding of the GSIs that would otherwise put one concert's on-sale (or every pending
# order) behind one index partition (~1,000 writes/s). Readers query every shard; changing a
# count needs the items rewritten, so these are fixed.
SALE_SHARDS = 8
ORDER_SHARDS = 8

# Creating a table with its indexes takes seconds to a few minutes on AWS.
ACTIVE_TIMEOUT_S = 300.0

# The GSI of concerts has one partition key value: listing is by starts_at across all
# concerts (a few thousand rows, read through the in-process cache), see docs/dynamodb.md.
CONCERT_LIST_PARTITION = "all"


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None = None
    projection: Literal["ALL", "KEYS_ONLY", "INCLUDE"] = "ALL"
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str  # without the deployment's prefix
    hash_key: str = "pk"
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None


# pk "user#<id>" (the account) and "email#<lower-cased email>" (its uniqueness claim).
USERS = TableSpec("users")

# pk "jti#<jti>", sk "token": the token. pk "family#<family id>", sk "<jti>": its membership,
# so a family is read with one strongly consistent Query (no GSI lag on revocation). pk
# "user#<user id>", sk "family#<family id>": the user's families, for revoke_user (written with
# each token since revoke_user exists; families older than that are not listed there).
REFRESH_TOKENS = TableSpec("refresh_tokens", range_key="sk", ttl_attribute="ttl")

CONCERTS = TableSpec(
    "concerts",
    indexes=(
        Index(
            "by_start",
            "list_pk",
            "start_key",
            projection="INCLUDE",
            include=("title_lc", "artist_lc", "city_lc", "genre_lc"),
        ),
    ),
)

# pk "order#<id>", plus uniqueness items "hold#<hold id>" and "intent#<payment intent id>"
# that point at the order; those carry none of the index attributes (sparse indexes).
ORDERS = TableSpec(
    "orders",
    indexes=(
        Index("by_user", "user_id", "created_key"),
        Index("by_due", "due_pk", "due_key"),
        Index("by_concert", "concert_pk", "created_key"),
    ),
)

# pk "<concert id>#<seat id>" (escaped): every seat is its own partition.
SEAT_SALES = TableSpec(
    "seat_sales",
    indexes=(
        Index(
            "by_concert", "concert_shard", "seat_id", projection="INCLUDE", include=("order_id",)
        ),
        Index("by_order", "order_id", projection="KEYS_ONLY"),
    ),
)

# pk order id, sk seat id: (order, seat) is the uniqueness the contract asks for.
TICKETS = TableSpec(
    "tickets",
    hash_key="order_id",
    range_key="seat_id",
    indexes=(Index("by_user", "user_id", "issued_key"),),
)

PAYMENT_EVENTS = TableSpec("payment_events", ttl_attribute="ttl")

# Presale lottery registrations: pk concert id, sk user id, so (concert, account) is the
# uniqueness and a concert's registrations are one strongly consistent Query (the draw reads
# them all: a GSI's lag could leave one out). Registrations arrive over days, well within
# one partition's write rate.
LOTTERY_REGISTRATIONS = TableSpec(
    "lottery_registrations", hash_key="concert_id", range_key="user_id"
)

TABLES = (
    USERS,
    REFRESH_TOKENS,
    CONCERTS,
    ORDERS,
    SEAT_SALES,
    TICKETS,
    PAYMENT_EVENTS,
    LOTTERY_REGISTRATIONS,
)


async def create_tables(endpoint: str | None, region: str, table_prefix: str) -> list[str]:
    """Create the missing tables (idempotent) and wait until they are usable.

    Returns the name of every table of the store, created now or existing. Raises
    StoreUnavailable if DynamoDB cannot be reached or a table lacks one of its indexes.
    """
    dynamo = Dynamo(endpoint=endpoint, region=region, table_prefix=table_prefix)
    try:
        return await ensure_tables(dynamo)
    finally:
        await dynamo.close()


async def ensure_tables(dynamo: Dynamo) -> list[str]:
    client = await dynamo.client()
    with translated_errors():
        names = [dynamo.table(spec.name) for spec in TABLES]
        # Tables are independent: create them all, then wait for all. (bounded_gather
        # cancels the rest when one fails: nothing may use the client after it is closed.)
        await bounded_gather(_create_if_missing(client, s, dynamo.table(s.name)) for s in TABLES)
        await bounded_gather(_wait_active(client, s, dynamo.table(s.name)) for s in TABLES)
        for spec in TABLES:
            if spec.ttl_attribute:
                await _enable_ttl(client, dynamo.table(spec.name), spec.ttl_attribute)
    return names


async def _create_if_missing(client: DynamoDBClient, spec: TableSpec, name: str) -> None:
    try:
        await client.describe_table(TableName=name)
        return
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
    try:
        await client.create_table(**_definition(spec, name))
    except ClientError as error:
        # Another process (a second worker starting) created it first: just as good.
        if error_code(error) != "ResourceInUseException":
            raise


def _definition(spec: TableSpec, name: str) -> CreateTableInputTypeDef:
    attributes = {spec.hash_key, *([spec.range_key] if spec.range_key else [])}
    for index in spec.indexes:
        attributes.add(index.hash_key)
        if index.range_key:
            attributes.add(index.range_key)
    definition: CreateTableInputTypeDef = {
        "TableName": name,
        "KeySchema": _key_schema(spec.hash_key, spec.range_key),
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        definition["GlobalSecondaryIndexes"] = [_index(i) for i in spec.indexes]
    return definition


def _key_schema(hash_key: str, range_key: str | None) -> list[KeySchemaElementTypeDef]:
    schema: list[KeySchemaElementTypeDef] = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _index(index: Index) -> GlobalSecondaryIndexTypeDef:
    projection: ProjectionTypeDef = {"ProjectionType": index.projection}
    if index.include:
        projection["NonKeyAttributes"] = list(index.include)
    return {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.hash_key, index.range_key),
        "Projection": projection,
    }


async def _wait_active(client: DynamoDBClient, spec: TableSpec, name: str) -> None:
    """Until the table and each of its indexes is ACTIVE; complain about missing indexes."""
    deadline = time.monotonic() + ACTIVE_TIMEOUT_S
    delay = 0.05
    while True:
        table = (await client.describe_table(TableName=name))["Table"]
        indexes = {
            i["IndexName"]: i.get("IndexStatus") for i in table.get("GlobalSecondaryIndexes", [])
        }
        missing = [i.name for i in spec.indexes if i.name not in indexes]
        if missing:
            # initialize() creates tables but does not migrate them; see docs/dynamodb.md.
            raise StoreUnavailable(f"table {name} lacks the index(es) {', '.join(missing)}")
        # Some emulators leave IndexStatus out: no status means nothing is pending.
        ready = all(status in (None, "ACTIVE") for status in indexes.values())
        if table.get("TableStatus") == "ACTIVE" and ready:
            return
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"table {name} did not become ACTIVE in {ACTIVE_TIMEOUT_S} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _enable_ttl(client: DynamoDBClient, name: str, attribute: str) -> None:
    described = await client.describe_time_to_live(TableName=name)
    status = described.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
    if status in ("ENABLED", "ENABLING"):
        return  # enabling twice is a ValidationException on AWS
    try:
        await client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
    except ClientError as error:
        # A second process enabling it at the same moment.
        message = error.response.get("Error", {}).get("Message", "").lower()
        if error_code(error) != "ValidationException" or "already enabled" not in message:
            raise

"""The one DynamoDB client of a store: how it connects, retries, and what its errors mean."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, aclosing, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from app.platform.aws import local_credentials
from app.storage.errors import DuplicateKey, InvalidValue, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import (
        AttributeValueTypeDef,
        BatchGetItemOutputTypeDef,
        KeysAndAttributesTypeDef,
        QueryInputTypeDef,
        QueryOutputTypeDef,
        TransactWriteItemTypeDef,
    )

T = TypeVar("T")

# Bounded waits: a request that cannot connect in 3 s or answer in 5 s fails (and is retried
# by botocore's standard mode, 3 attempts in all, with its own backoff and throttling quota).
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3
MAX_POOL_CONNECTIONS = 50

# botocore does not retry transaction conflicts (another transaction holds one of our items
# for a few milliseconds), nor a transaction cancelled for throttling, so we do: a few short,
# jittered attempts.
CONFLICT_ATTEMPTS = 5
CONFLICT_BACKOFF_S = 0.02

# BatchGetItem takes at most this many keys per request.
BATCH_GET_KEYS = 100

# More in flight than this for one call (e.g. revoking a large token family) only queues on
# the connection pool; keep a margin for concurrent requests.
FAN_OUT = 16

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CANCELED = "TransactionCanceledException"
# Cancellation reason codes (inside TransactionCanceledException).
REASON_CONDITION = "ConditionalCheckFailed"
REASON_CONFLICT = "TransactionConflict"
REASON_VALIDATION = "ValidationError"
_RETRYABLE_REASONS = frozenset(
    {REASON_CONFLICT, "ThrottlingError", "ProvisionedThroughputExceeded"}
)

# A request whose value DynamoDB refused (item too large, empty key...). Missing tables and
# indexes are deployment trouble, not bad values: see `_is_bad_value`.
_VALIDATION = "ValidationException"

Item = dict[str, "AttributeValueTypeDef"]


class Dynamo:
    """Holds the aioboto3 client for the store's life (opened lazily, closed by `close`)."""

    def __init__(self, *, endpoint: str | None, region: str, table_prefix: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self.table_prefix = table_prefix
        key_id, secret = local_credentials(endpoint)
        self._session = aioboto3.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region
        )
        self._config = AioConfig(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        self._stack: AsyncExitStack | None = None
        self._client: DynamoDBClient | None = None
        self._lock = asyncio.Lock()

    def table(self, name: str) -> str:
        return f"{self.table_prefix}{name}"

    async def client(self) -> DynamoDBClient:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                stack = AsyncExitStack()
                with translated_errors():
                    self._client = await stack.enter_async_context(
                        self._session.client(
                            "dynamodb", endpoint_url=self.endpoint, config=self._config
                        )
                    )
                self._stack = stack
            return self._client

    async def run(self, call: Callable[[DynamoDBClient], Awaitable[T]]) -> T:
        """One request, tried again while it only lost a race with a transaction (or a
        transaction was cancelled for throttling)."""
        client = await self.client()
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return await call(client)
            except ClientError as error:
                if attempt == CONFLICT_ATTEMPTS - 1 or not is_retryable(error):
                    raise
            # Full jitter: competing writers must not retry in lockstep.
            await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2**attempt))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def write_if(self, call: Callable[[DynamoDBClient], Awaitable[T]]) -> T | Refused:
        """A conditional write (or a transaction of them): its response, or Refused when a
        condition failed and nothing was written. Every other error is translated."""
        with translated_errors():
            try:
                return await self.run(call)
            except ClientError as error:
                if condition_failed(error) or failed_conditions(error):
                    return Refused(error)
                raise

    async def insert_together(self, actions: list[TransactWriteItemTypeDef], taken: str) -> None:
        """New items (puts conditional on their keys being free) in one transaction, all or
        none: DuplicateKey(`taken`) if one of the keys exists."""
        written = await self.write_if(lambda c: c.transact_write_items(TransactItems=actions))
        if isinstance(written, Refused):
            raise DuplicateKey(taken) from written.error

    async def get_item(self, table: str, key: Item, **options: Any) -> Item | None:
        """The item of this key, strongly consistent; None if there is none."""
        with translated_errors():
            response = await self.run(
                lambda c: c.get_item(TableName=table, Key=key, ConsistentRead=True, **options)
            )
        return response.get("Item")

    async def close(self) -> None:
        async with self._lock:
            stack, self._stack, self._client = self._stack, None, None
            if stack is not None:
                with translated_errors():
                    await stack.aclose()


class TableRepository:
    """A repository over one table of the store (`table_name`, before the store's prefix)."""

    table_name: ClassVar[str]

    def __init__(self, db: Dynamo) -> None:
        self._db = db
        self._table = db.table(self.table_name)


async def bounded_gather(calls: Iterable[Awaitable[T]], limit: int = FAN_OUT) -> list[T]:
    """Await every call, at most `limit` at a time, results in order.

    If one fails, the others are cancelled (not left running after the caller gave up) and
    the first error is raised as it is: a StoreError must not arrive in an ExceptionGroup.
    """
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    tasks = [asyncio.ensure_future(one(c)) for c in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class Refused:
    """A conditional write DynamoDB refused because a condition failed: nothing was written."""

    def __init__(self, error: ClientError) -> None:
        self.error = error

    @property
    def old(self) -> Item | None:
        """The item as it was, when asked for (ReturnValuesOnConditionCheckFailure=ALL_OLD):
        see `old_item`."""
        return old_item(self.error)

    @property
    def failed(self) -> set[int]:
        """For a transaction: the positions of the actions whose condition failed."""
        return failed_conditions(self.error)


def put_if_absent(table: str, item: Item) -> TransactWriteItemTypeDef:
    """A transaction action: insert the item unless its key exists."""
    return {
        "Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
    }


def key_query(
    table: str,
    condition: str,
    values: Item,
    *,
    index: str | None = None,
    consistent: bool = False,
    newest_first: bool = False,
    limit: int | None = None,
) -> QueryInputTypeDef:
    """A Query of the table (or of one of its indexes) by key condition, in key order."""
    request: QueryInputTypeDef = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    if index is not None:
        request["IndexName"] = index
    if consistent:  # only the table itself: a GSI cannot be read strongly consistently
        request["ConsistentRead"] = True
    if newest_first:
        request["ScanIndexForward"] = False
    if limit is not None:
        request["Limit"] = limit
    return request


async def query_pages(
    db: Dynamo, request: QueryInputTypeDef
) -> AsyncGenerator[QueryOutputTypeDef, None]:
    """Every page of a Query (each at most 1 MB or `Limit` items before filtering)."""
    page = request.copy()  # ExclusiveStartKey is set on the copy, not the caller's dict
    while True:
        response = await db.run(lambda c: c.query(**page))
        yield response
        start = response.get("LastEvaluatedKey")
        if not start:
            return
        page["ExclusiveStartKey"] = start


async def query_items(
    db: Dynamo, request: QueryInputTypeDef, limit: int | None = None
) -> list[Item]:
    """The items of every page, or of as many pages as it takes to have `limit` items."""
    items: list[Item] = []
    with translated_errors():
        async with aclosing(query_pages(db, request)) as pages:
            async for page in pages:
                items.extend(page["Items"])
                if limit is not None and len(items) >= limit:
                    return items[:limit]
    return items


async def batch_get(db: Dynamo, table: str, keys: list[Item]) -> list[Item]:
    """The items of these keys that exist (strongly consistent), in no particular order.

    DynamoDB may leave keys unprocessed under load; they are asked for again, a bounded
    number of times, before the call gives up as unavailable.
    """
    found: list[Item] = []
    for first in range(0, len(keys), BATCH_GET_KEYS):
        pending: list[Item] = keys[first : first + BATCH_GET_KEYS]
        for attempt in range(CONFLICT_ATTEMPTS):
            request: dict[str, KeysAndAttributesTypeDef] = {
                table: {"Keys": pending, "ConsistentRead": True}
            }

            async def call(
                client: DynamoDBClient, request: dict[str, KeysAndAttributesTypeDef] = request
            ) -> BatchGetItemOutputTypeDef:
                return await client.batch_get_item(RequestItems=request)

            response = await db.run(call)
            found.extend(response["Responses"].get(table) or [])
            unprocessed = response.get("UnprocessedKeys", {}).get(table)
            pending = list(unprocessed["Keys"]) if unprocessed else []
            if not pending:
                break
            await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2**attempt))  # noqa: S311
        else:
            raise StoreUnavailable(f"DynamoDB left {len(pending)} keys of {table} unread")
    return found


# --------------------------------------------------------------------------- errors


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def condition_failed(error: ClientError) -> bool:
    return error_code(error) == CONDITION_FAILED


def old_item(error: ClientError) -> Item | None:
    """The item as it was when a condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD).

    None if it did not exist, or if the server does not support returning it: callers that
    must tell those apart read the item again.
    """
    item = cast(Mapping[str, Any], error.response).get("Item")
    return cast(Item, item) if item else None


def cancellation_reasons(error: ClientError) -> list[tuple[str, Item | None]]:
    """(code, old item) per action of a cancelled transaction, in request order; code "None"
    for actions that were fine. Empty if the server sent no reasons."""
    reasons = cast(Mapping[str, Any], error.response).get("CancellationReasons") or []
    return [(str(r.get("Code") or "None"), r.get("Item") or None) for r in reasons]


def failed_conditions(error: ClientError) -> set[int]:
    """Positions of a cancelled transaction's actions whose condition failed."""
    if error_code(error) != TRANSACTION_CANCELED:
        return set()
    reasons = cancellation_reasons(error)
    return {k for k, (code, _) in enumerate(reasons) if code == REASON_CONDITION}


def is_retryable(error: ClientError) -> bool:
    code = error_code(error)
    if code in ("TransactionConflictException", "TransactionInProgressException"):
        return True
    if code == TRANSACTION_CANCELED:
        return any(reason in _RETRYABLE_REASONS for reason, _ in cancellation_reasons(error))
    return False


def _is_bad_value(error: ClientError) -> bool:
    code = error_code(error)
    if code == TRANSACTION_CANCELED:
        return any(reason == REASON_VALIDATION for reason, _ in cancellation_reasons(error))
    if code != _VALIDATION:
        return False
    message = error.response.get("Error", {}).get("Message", "").lower()
    # "The table does not have the specified index": a table created by an older version.
    return "specified index" not in message


@contextmanager
def translated_errors() -> Iterator[None]:
    """Let only store errors out of a repository method.

    Conditional-check outcomes are decided by each repository before this sees them; what
    reaches here is either a value DynamoDB refused (InvalidValue) or the service not serving
    us right now: unreachable, timed out, throttled after botocore's retries, contended past
    ours, a table missing (StoreUnavailable).
    """
    try:
        yield
    except StoreError:
        raise
    except ClientError as error:
        code = error_code(error)
        if code == CONDITION_FAILED:
            # Every expected failed condition is decided where the write is made.
            raise StoreError(f"unexpected failed condition: {error}") from error
        if _is_bad_value(error):
            raise InvalidValue(f"value refused by DynamoDB: {error}") from error
        raise StoreUnavailable(f"DynamoDB error {code or type(error).__name__}") from error
    except ParamValidationError as error:
        raise InvalidValue(f"value refused before sending: {error}") from error
    except (BotoCoreError, aiohttp.ClientError, OSError) as error:
        # OSError covers TimeoutError and connection errors that reach us unwrapped.
        raise StoreUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from error

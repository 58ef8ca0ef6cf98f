"""Multi-document transactions with the retry rules MongoDB prescribes, bounded in time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pymongo import AsyncMongoClient, ReadPreference
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError
from pymongo.read_concern import ReadConcern

from app.storage.errors import StoreUnavailable
from app.storage.mongo.codec import Document
from app.storage.mongo.db import MAJORITY

T = TypeVar("T")

# How long one call may keep retrying before it reports StoreUnavailable. Short on purpose:
# a buyer is waiting, and the caller can retry a claim safely (re-claims are harmless).
TRANSACTION_DEADLINE_SECONDS = 10.0
_BACKOFF_FIRST_SECONDS = 0.005
_BACKOFF_MAX_SECONDS = 0.25

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"


def _backoff(attempt: int) -> float:
    # Full jitter: competing claims that conflicted once must not retry in lockstep.
    ceiling = min(_BACKOFF_MAX_SECONDS, _BACKOFF_FIRST_SECONDS * 2**attempt)
    return random.uniform(0, ceiling)  # noqa: S311 - timing jitter, not cryptography


def _transient(error: BaseException) -> bool:
    """Worth running the whole transaction again: a write conflict, a primary that stepped
    down, a dropped connection. Not when no server could be selected at all: the driver
    has already waited serverSelectionTimeoutMS for one, and the caller should hear
    StoreUnavailable now rather than after the whole retry budget."""
    return (
        isinstance(error, PyMongoError)
        and error.has_error_label(TRANSIENT)
        and not isinstance(error, ServerSelectionTimeoutError)
    )


def _retryable_commit(error: PyMongoError) -> bool:
    return error.has_error_label(UNKNOWN_COMMIT) and not isinstance(
        error, ServerSelectionTimeoutError
    )


async def run_in_transaction(
    client: AsyncMongoClient[Document],
    body: Callable[[AsyncClientSession], Awaitable[T]],
    *,
    retry_on: tuple[type[BaseException], ...] = (),
) -> T:
    """Run `body` in one snapshot transaction committed with majority write concern.

    MongoDB never makes a transaction wait for another: a write that touches a document
    another open transaction wrote (or that changed since our snapshot) fails at once with a
    WriteConflict labelled TransientTransactionError, and the transaction must be retried
    from the start. A commit whose outcome is unknown (UnknownTransactionCommitResult) is
    retried as a commit: committing twice is harmless. `body` may raise a store error to
    give up; the session then aborts the transaction, so nothing it wrote survives.
    Errors in `retry_on` also restart the transaction (the caller's own races).
    Still failing that way at the deadline: StoreUnavailable. Other driver errors leave as
    they are; the repository translates them.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TRANSACTION_DEADLINE_SECONDS
    caught: tuple[type[BaseException], ...] = (PyMongoError, *retry_on)
    attempt = 0
    while True:
        attempt += 1
        try:
            # Leaving the session aborts a transaction still open (after an error in body).
            async with client.start_session() as session:
                await session.start_transaction(
                    read_concern=ReadConcern("snapshot"),
                    write_concern=MAJORITY,
                    read_preference=ReadPreference.PRIMARY,
                )
                result = await body(session)
                await _commit(session, deadline)
                return result
        except caught as error:
            if not (isinstance(error, retry_on) or _transient(error)):
                raise
            if loop.time() >= deadline:
                raise StoreUnavailable(
                    f"transaction still conflicting after {attempt} attempts; try again"
                ) from error
        await asyncio.sleep(_backoff(attempt))


async def _commit(session: AsyncClientSession, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        attempt += 1
        try:
            await session.commit_transaction()
            return
        except PyMongoError as error:
            if not _retryable_commit(error) or loop.time() >= deadline:
                raise
        await asyncio.sleep(_backoff(attempt))

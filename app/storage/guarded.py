"""The store behind a circuit breaker, a per-call deadline, and a retry for reads.

Wraps any backend without knowing it: every coroutine method of every repository goes through
`StoreGuard.run`, which
- bounds the call with `timeout_seconds` (a hung connection becomes StoreUnavailable);
- counts StoreUnavailable (and nothing else: a duplicate key or a version conflict is an
  answer) towards the "store" breaker, which then refuses calls at once with 503;
- retries reads (get*, list*, search, sold_seats, count*) once after a short random pause
  when the store was unavailable. Writes are never retried here: their callers know whether a
  write is safe to repeat (they all are idempotent, but a retry belongs to the caller that
  can re-read first). With the breaker, retries stop as soon as the store is known to be down,
  so a blip costs one extra attempt and an outage costs none: no retry storm.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.platform.breakers import Breaker, Breakers
from app.storage.errors import StoreUnavailable
from app.storage.ports import Store

T = TypeVar("T")

_FIRST_RETRY_PAUSE_S = 0.05
_READ_PREFIXES = ("get", "list", "search", "sold_seats", "count")
_REPOSITORIES = (
    "users",
    "refresh_tokens",
    "concerts",
    "orders",
    "sales",
    "tickets",
    "payment_events",
    "lottery_registrations",
)


def store_down(exc: BaseException) -> bool:
    return isinstance(exc, StoreUnavailable)


def is_read(method: str) -> bool:
    return method.startswith(_READ_PREFIXES)


class StoreGuard:
    def __init__(self, breaker: Breaker, timeout_seconds: float, read_attempts: int = 2) -> None:
        self.breaker = breaker
        self._timeout = timeout_seconds
        self._attempts = max(1, read_attempts)
        # The attempts after the first one (see `run`).
        self._retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, read_attempts - 1)),
            wait=wait_random_exponential(multiplier=0.05, max=0.5),
            retry=retry_if_exception_type(StoreUnavailable),
            reraise=True,
        )

    async def run(self, call: Callable[[], Awaitable[T]], *, read: bool) -> T:
        if not read:
            return await self.breaker.call(lambda: self._bounded(call))
        # The first attempt runs without tenacity (its retry object costs more than a store
        # read on asyncpg); only a read that found the store unavailable goes to the retries.
        try:
            return await self.breaker.call(lambda: self._bounded(call))
        except StoreUnavailable:
            if self._attempts < 2:
                raise
        # The pause tenacity's first wait would have made: random, up to 50 ms.
        await asyncio.sleep(random.uniform(0, _FIRST_RETRY_PAUSE_S))  # noqa: S311 - jitter
        async for attempt in self._retrying.copy():
            with attempt:
                return await self.breaker.call(lambda: self._bounded(call))
        raise AssertionError("unreachable: tenacity re-raises the last error (reraise=True)")

    async def _bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await call()
        except TimeoutError:
            raise StoreUnavailable(f"no answer within {self._timeout:g} s") from None


class _GuardedRepository:
    """Forwards attribute access to the repository; coroutine methods run under the guard."""

    def __init__(self, inner: object, guard: StoreGuard) -> None:
        self._inner = inner
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(target):
            return target
        read = is_read(name)
        guard = self._guard

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            return await guard.run(lambda: target(*args, **kwargs), read=read)

        guarded.__name__ = name
        setattr(self, name, guarded)  # built once per method
        return guarded


class GuardedStore:
    """A Store whose repositories are guarded; `initialize`, `ping` and `close` are not (the
    readiness probe must see the store itself, not the breaker's opinion of it)."""

    def __init__(self, inner: Store, breakers: Breakers, timeout_seconds: float) -> None:
        self.inner = inner
        self.guard = StoreGuard(breakers.add("store", store_down, "The database"), timeout_seconds)
        for name in _REPOSITORIES:
            setattr(self, name, _GuardedRepository(getattr(inner, name), self.guard))

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()


def guard_store(inner: Store, breakers: Breakers, timeout_seconds: float) -> Store:
    return cast(Store, GuardedStore(inner, breakers, timeout_seconds))

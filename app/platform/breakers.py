"""Circuit breakers (purgatory): a dependency that is down is refused at once, not waited for.

A breaker per dependency ("store", "payments") counts consecutive failures that mean "down"
(unreachable, timed out) - never answers such as a duplicate key or a declined card. At the
threshold it opens: for `reset_seconds` every call fails at once with 503 ServiceUnavailable and
a Retry-After of the time left, so requests do not queue behind a dead connection. Then one
period of trial calls (half-open) decides: a success closes it, a failure opens it again.

State is per process (purgatory's in-memory unit of work): every process learns of an outage
by itself within `threshold` calls, and a shared breaker would make Redis a dependency of the
store's breaker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

from app.errors import ServiceUnavailable

T = TypeVar("T")

STATE_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}
BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "0 closed, 1 half-open, 2 open",
    ["dependency"],
    multiprocess_mode="max",
)
BREAKER_REJECTED = Counter(
    "circuit_breaker_rejected_total", "Calls refused because the breaker was open", ["dependency"]
)
BREAKER_OPENED = Counter("circuit_breaker_opened_total", "Times a breaker opened", ["dependency"])


class Breaker:
    """One dependency's breaker. `counts(exc)` says whether an error means the dependency is
    down; other errors pass through and count as answers (the dependency is up)."""

    def __init__(
        self,
        factory: AsyncCircuitBreakerFactory,
        name: str,
        counts: Callable[[BaseException], bool],
        what: str,
    ) -> None:
        self.name = name
        self._factory = factory
        self._exclude: list[Any] = [(BaseException, lambda exc: not counts(exc))]
        self._what = what
        self._breaker: AsyncCircuitBreaker | None = None
        BREAKER_STATE.labels(name).set(0)

    async def _get(self) -> AsyncCircuitBreaker:
        # The in-memory context object is shared, so one wrapper per process is enough (and
        # saves purgatory's two unit-of-work rounds per call).
        if self._breaker is None:
            self._breaker = await self._factory.get_breaker(self.name, exclude=self._exclude)
        return self._breaker

    @property
    def state(self) -> str:
        """closed, half-opened or opened (an open breaker past its reset time reads opened
        until the next call tries the dependency)."""
        return "closed" if self._breaker is None else self._breaker.context.state

    def retry_after_seconds(self) -> int:
        if self._breaker is None or self._breaker.context.opened_at is None:
            return 1
        ctx = self._breaker.context
        left = (ctx.opened_at or 0.0) + ctx.ttl - time.time()
        return max(1, math.ceil(left))

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        breaker = await self._get()
        try:
            async with breaker:
                return await fn()
        except OpenedState:
            BREAKER_REJECTED.labels(self.name).inc()
            raise ServiceUnavailable(
                f"{self._what} is not answering; retry in a few seconds.",
                dependency=self.name,
                retry_after=self.retry_after_seconds(),
            ) from None


class Breakers:
    """The breakers of one process, created with the container."""

    def __init__(self, *, threshold: int, reset_seconds: float) -> None:
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold, default_ttl=reset_seconds
        )
        self._factory.add_listener(self._on_event)
        self._all: dict[str, Breaker] = {}

    def add(self, name: str, counts: Callable[[BaseException], bool], what: str) -> Breaker:
        breaker = Breaker(self._factory, name, counts, what)
        self._all[name] = breaker
        return breaker

    def states(self) -> dict[str, str]:
        return {name: b.state for name, b in self._all.items()}

    @staticmethod
    def _on_event(name: str, kind: str, event: Any) -> None:
        if kind != "state_changed":
            return
        state = str(getattr(event, "state", "closed"))
        BREAKER_STATE.labels(name).set(STATE_VALUES.get(state, 0))
        if state == "opened":
            BREAKER_OPENED.labels(name).inc()

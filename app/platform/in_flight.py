"""A cap on the API requests one process works on at once: load shedding for stampedes.

An asyncio worker never refuses work by itself: in a burst (10,000 buyers pressing "hold" in
the same second) it accepts every request and interleaves them all, so each await of each
request waits for a whole round of the others. With hundreds of requests in flight, every
Redis reply waits for all of them to take a turn on the CPU before it is read
(docs/performance.md, "Figures moved out of code comments"): answers take seconds, Redis calls
time out into 503s, and nothing is gained, since the requests at the back would only have
learned that the seats are gone (bench/burst.py, docs/performance.md).

`InFlightLimit` counts the API requests in progress in this process (not webhooks: Stripe's
retries only delay confirmations; not the seat streams, which are long-lived by design and
capped on their own, per client address and per process: app/seats/stream.py) and
answers the ones beyond HTTP_MAX_IN_FLIGHT at once with 429 `RateLimited` and `Retry-After: 1`
(docs/api.md, "Errors": 429 is the answer to too many requests), counted in
`http_rate_limited_total{scope="busy"}`. It sits outside the rate limiter, so a shed request
costs no Redis call. With the waiting room on, a crowd of this size never reaches the hold
route at once; the cap is the backstop when it is off or when the crowd hits other routes.
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import API_PREFIX
from app.platform.ratelimit import RATE_LIMITED, RateLimited, is_limited

__all__ = ["InFlightLimit"]

RETRY_AFTER_SECONDS = 1


class InFlightLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _counted(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            RATE_LIMITED.labels("busy").inc()
            refusal = RateLimited("busy", RETRY_AFTER_SECONDS)
            response = JSONResponse(refusal.body(), status_code=429, headers=refusal.headers)
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


# The seat stream exactly (GET /concerts/{id}/seats/stream), not any path ending in /stream.
_SEAT_STREAM = re.compile(rf"{re.escape(API_PREFIX)}/concerts/[^/]+/seats/stream")


def _counted(method: str, path: str) -> bool:
    return is_limited(path) and not (method == "GET" and _SEAT_STREAM.fullmatch(path))

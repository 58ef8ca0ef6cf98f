"""Rate limits per client address and per user, counted in Redis before routing.

Every `/api/` request (webhooks excepted) counts in one window per client address and, with a
valid access token, one per user. A route may declare stricter windows of its own with
`route_limits(...)` (in its decorator's `openapi_extra`, which also documents them): the
middleware finds the route's declaration and counts those windows instead. It knows no route
itself. The caller comes from app/auth/principal.py. The algorithm (limits' sliding window
counter, in one Lua call per batch), the keys, the settings and why it fails open are in
docs/rate-limits.md."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, Protocol

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from limits import RateLimitItem, parse
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import API_PREFIX
from app.errors import AppError, ErrorBody
from app.platform.batching import GroupCommit, regroup
from app.platform.client_ip import ClientAddress, client_key, parse_networks
from app.platform.redis import RedisClient, build_redis, is_cluster_url
from app.platform.redis_lane import RedisLane
from app.settings import Settings

__all__ = [
    "FAIL_OPEN_SECONDS",
    "RATE_LIMITED",
    "Hit",
    "LimitScope",
    "RateLimitMiddleware",
    "RateLimited",
    "RateLimiter",
    "RouteLimits",
    "document_429",
    "install_rate_limits",
    "is_limited",
    "route_limits",
]

log = logging.getLogger(__name__)

LimitScope = Literal[
    "ip",
    "user",
    "auth",
    "holds",
    "login",
    "queue",
    "challenge",
    "verify_resend",
    "verify_resend_ip",
    "door",
    "busy",
    "streams",
    "streams_busy",
]

RATE_LIMITED = Counter(
    "http_rate_limited_total",
    "Requests refused with 429, by the limit that refused them",
    ["scope"],
)
LIMITER_FAILURES = Counter(
    "rate_limiter_failures_total",
    "Limiter checks that failed or timed out (Redis down or slow); the request was let through",
)

FAIL_OPEN_SECONDS = 5.0
KEY_PREFIX = "ratelimit"
# Requests per script call at most: one call never holds Redis long (docs/performance.md,
# "Figures moved out of code comments").
LIMITER_BATCH = 1024
_STORAGE_ERRORS = (RedisError, OSError, TimeoutError)

_LIMITED_PREFIX = "/api/"
_UNLIMITED_PREFIX = f"{API_PREFIX}/webhooks/"

_ADVICE: Mapping[LimitScope, str] = {
    "ip": "Too many requests from your network address",
    "user": "Too many requests from your account",
    "auth": "Too many sign-in attempts from your network address",
    "holds": "Too many hold attempts from your account",
    "login": "Too many login attempts for this account",
    "queue": "Too many queue joins from your network address",
    "challenge": "Too many waiting-room challenges asked from your network address",
    "verify_resend": "You asked for several verification links recently: use the newest one",
    "verify_resend_ip": "Too many verification links asked from your network address",
    "door": "Too many ticket scans from your account",
    "busy": "The service is busy with a crowd right now",  # app/platform/in_flight.py
    # Seat streams (app/seats/stream.py): per client address, and per process.
    "streams": "Too many live seat maps open from your network address",
    "streams_busy": "Too many live seat maps are open right now",
}


class RateLimited(AppError):
    """429: a rate limit was reached; `Retry-After` says when to try again."""

    status_code = 429
    detail = "Too many requests; retry in a few seconds."

    def __init__(self, scope: LimitScope, retry_after: int) -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(f"{_ADVICE[scope]}; retry in {retry_after} {unit}.")
        self.scope = scope
        self.retry_after = retry_after
        # AppError.headers is a class constant, but Retry-After depends on the window: the
        # instance carries its own (the error handler reads `exc.headers`).
        vars(self)["headers"] = {"Retry-After": str(retry_after)}


@dataclass(frozen=True, slots=True)
class Hit:
    """One request counted in one window: `scope` names the limit, `subject` whose window."""

    scope: LimitScope
    subject: str


_HIT_LUA = files("app.platform").joinpath("lua", "ratelimit_hit.lua").read_text(encoding="utf-8")


def _window_keys(item: RateLimitItem, hit: Hit) -> tuple[str, str]:
    """`limits`' keys for this window: previous and current, one hash tag (one cluster slot)."""
    current = f"{KEY_PREFIX}:{{{item.key_for(hit.scope, hit.subject)}}}"
    return f"{current}/-1", current


class RateLimiter:
    """Counts hits in Redis windows. `check` answers the refusal, if any; it never raises for
    Redis trouble (docs/rate-limits.md, "Fail open")."""

    def __init__(
        self,
        limits: Mapping[LimitScope, RateLimitItem],
        client: RedisClient,
        *,
        cluster: bool = False,
        lane: RedisLane | None = None,
    ) -> None:
        self.limits = dict(limits)
        self._client = client
        self._lane = lane  # the batches' connection, if any (app/platform/redis_lane.py)
        self._script = client.register_script(_HIT_LUA)
        self._cluster = cluster
        # Single server: every request's windows that arrive together go out in one script
        # call (docs/rate-limits.md, "Round trips").
        self._batches: GroupCommit[tuple[Hit, ...], list[int]] = GroupCommit(
            self._hit_batch, max_batch=LIMITER_BATCH
        )
        self._paused_until = 0.0  # time.monotonic(); checks are skipped until then
        self.calls = 0  # script calls made (tests, and the batching it shows)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        limits: dict[LimitScope, RateLimitItem] = {
            "ip": parse(settings.rate_limit_default_per_ip),
            "user": parse(settings.rate_limit_per_user),
            "auth": parse(settings.rate_limit_auth_per_ip),
            "holds": parse(settings.rate_limit_holds_per_user),
            "login": parse(settings.rate_limit_login_per_email),
            "queue": parse(settings.rate_limit_queue_join_per_ip),
            "challenge": parse(settings.rate_limit_queue_challenge_per_ip),
            "verify_resend": parse(settings.rate_limit_verify_resend_per_user),
            "verify_resend_ip": parse(settings.rate_limit_verify_resend_per_ip),
            "door": parse(settings.rate_limit_check_ins_per_user),
        }
        timeout = settings.rate_limit_timeout_seconds
        cluster = settings.redis_cluster or is_cluster_url(settings.redis_url)
        client = build_redis(
            settings.redis_url, timeout, settings.redis_max_connections, cluster=cluster
        )
        lane = RedisLane.of(client) if settings.redis_lane_enabled else None
        return cls(limits, client, cluster=cluster, lane=lane)

    async def aclose(self) -> None:
        if self._lane is not None:
            await self._lane.aclose()
        await self._client.aclose()

    async def check(self, *hits: Hit) -> RateLimited | None:
        """Count the request in every window; the first window over its limit refuses it."""
        if not hits or time.monotonic() < self._paused_until:
            return None
        try:
            # Bounded by the client's own connect and read timeouts (RATE_LIMIT_TIMEOUT_SECONDS),
            # not by a deadline on the whole check: in a stampede a check waits for the event
            # loop and for the batches ahead of it, and a deadline there would fail open (limits
            # off for seconds) exactly when the crowd is largest (bench/burst.py counts this).
            waits = await self._hit(hits)
        except _STORAGE_ERRORS as exc:
            self._pause(exc)
            return None
        for hit, wait_ms in zip(hits, waits, strict=True):
            if wait_ms:
                RATE_LIMITED.labels(hit.scope).inc()
                return RateLimited(hit.scope, max(1, math.ceil(wait_ms / 1000)))
        return None

    async def _hit(self, hits: tuple[Hit, ...]) -> list[int]:
        """Per window: 0 if counted, else milliseconds until it would be."""
        if not self._cluster:
            return await self._batches.submit(hits)
        # A cluster: each window's two keys share a slot, different windows may not.
        replies = await asyncio.gather(*(self._call((h,)) for h in hits))
        return [reply[0] for reply in replies]

    async def _hit_batch(self, batch: Sequence[tuple[Hit, ...]]) -> list[list[int]]:
        return regroup(batch, await self._call(tuple(hit for hits in batch for hit in hits)))

    async def _call(self, hits: tuple[Hit, ...]) -> list[int]:
        keys: list[str] = []
        args: list[int] = []
        for hit in hits:
            item = self.limits[hit.scope]
            keys.extend(_window_keys(item, hit))
            args.extend((item.amount, item.get_expiry() * 1000))
        self.calls += 1
        if self._lane is None:
            reply = await self._script(keys=keys, args=args)
        else:
            [reply] = await self._lane.scripts([(self._script, keys, args)])
            if isinstance(reply, Exception):
                raise reply
        return [int(w) for w in reply]

    def _pause(self, exc: BaseException) -> None:
        LIMITER_FAILURES.inc()
        now = time.monotonic()
        if now >= self._paused_until:  # one line per pause, not one per request in flight
            log.warning(
                "rate limiter unavailable: requests are let through unchecked for %.0f s",
                FAIL_OPEN_SECONDS,
                extra={"reason": repr(exc)},
            )
        self._paused_until = now + FAIL_OPEN_SECONDS


class Caller(Protocol):
    """Who is calling, as the limiter needs it (app/auth/principal.py's Principal)."""

    @property
    def id(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class RouteLimits:
    """The windows a route counts in instead of the general ones: `ip` for every caller's
    address, `user` for a signed-in caller, and `organisers`, when set, the one window an
    organiser's request counts in instead of both (a venue's scanners share one account and
    often one address)."""

    ip: LimitScope = "ip"
    user: LimitScope = "user"
    organisers: LimitScope | None = None


_DEFAULT = RouteLimits()
_EXTRA_KEY = "x-rate-limit"


def route_limits(
    ip: LimitScope = "ip", user: LimitScope = "user", organisers: LimitScope | None = None
) -> dict[str, Any]:
    """A route's own windows, for its decorator: `openapi_extra=route_limits(ip="auth")`.
    The OpenAPI document shows them as `x-rate-limit`."""
    declared = {"ip": ip, "user": user} | ({"organisers": organisers} if organisers else {})
    return {_EXTRA_KEY: declared}


class _DeclaredLimits:
    """The routes that declared windows, matched by method and path as the router matches
    them; read from the app's routes at the first request (all are registered by then)."""

    def __init__(self) -> None:
        self._routes: list[tuple[frozenset[str], re.Pattern[str], RouteLimits]] | None = None

    def of(self, scope: Scope) -> RouteLimits:
        if self._routes is None:
            self._routes = _declared(scope["app"].routes)
        method, path = scope["method"], scope["path"]
        for methods, pattern, limits in self._routes:
            if method in methods and pattern.fullmatch(path):
                return limits
        return _DEFAULT


def _declared(routes: Sequence[Any]) -> list[tuple[frozenset[str], re.Pattern[str], RouteLimits]]:
    found = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.openapi_extra:
            declared = route.openapi_extra.get(_EXTRA_KEY)
            if declared is not None:
                pattern, _, _ = compile_path(context.path or route.path)
                found.append((frozenset(route.methods or ()), pattern, RouteLimits(**declared)))
    return found


class RateLimitMiddleware:
    """Counts every `/api/` request per client address and per user; answers 429 when over."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        client_address: Callable[[Scope], str],
        caller_of: Callable[[Scope], Caller | None],
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.client_address = client_address
        self.caller_of = caller_of
        self.declared = _DeclaredLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_limited(scope["path"]):
            await self.app(scope, receive, send)
            return
        refusal = await self.limiter.check(*self._hits(scope))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(refusal.body(), status_code=429, headers=refusal.headers)
        await response(scope, receive, send)

    def _hits(self, scope: Scope) -> list[Hit]:
        limits = self.declared.of(scope)
        hits = [Hit(limits.ip, client_key(self.client_address(scope)))]  # IPv6: per /64
        caller = self.caller_of(scope)
        if caller is None:
            return hits
        if limits.organisers is not None and caller.is_admin:
            return [Hit(limits.organisers, caller.id)]
        user = Hit(limits.user, caller.id)
        # The route's own window first: when several are over, its advice is the useful one.
        return [user, *hits] if limits.user != "user" else [*hits, user]


def is_limited(path: str) -> bool:
    """Counted by the rate limits: the API, except webhooks."""
    return path.startswith(_LIMITED_PREFIX) and not path.startswith(_UNLIMITED_PREFIX)


# --- Installation ---

_RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Whole seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})


def document_429(app: FastAPI) -> None:
    """Add 429 RateLimited (with Retry-After) to every limited operation in the OpenAPI schema:
    the middleware is invisible to FastAPI, and most routers do not declare it themselves."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # also cached in app.openapi_schema: amended in place
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault(ErrorBody.__name__, ErrorBody.model_json_schema())
        ref = {"$ref": f"#/components/schemas/{ErrorBody.__name__}"}
        for path, item in schema.get("paths", {}).items():
            if not is_limited(path):
                continue
            for method, operation in item.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                entry = responses.setdefault("429", {"description": "RateLimited"})
                entry.setdefault("headers", {}).update(_RETRY_AFTER_HEADER)
                content = entry.setdefault("content", {}).setdefault("application/json", {})
                content.setdefault("schema", ref)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def install_rate_limits(
    app: FastAPI, settings: Settings, caller_of: Callable[[Scope], Caller | None]
) -> None:
    """Limit the API as the module docstring says; with RATE_LIMIT_ENABLED=false, do nothing.

    Call it before adding CORSMiddleware: CORS then wraps this middleware, so a 429 carries the
    CORS headers a browser needs to read it, and preflight requests are never counted."""
    app.state.rate_limiter = None
    if not settings.rate_limit_enabled:
        return
    limiter = RateLimiter.from_settings(settings)
    app.state.rate_limiter = limiter
    app.add_middleware(
        RateLimitMiddleware,
        limiter=limiter,
        client_address=ClientAddress(
            parse_networks(settings.trusted_proxies), settings.client_ip_header
        ),
        caller_of=caller_of,
    )

    @asynccontextmanager
    async def close_limiter(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await limiter.aclose()

    # A router's lifespan is merged into the app's: the limiter's pool closes at shutdown.
    app.include_router(APIRouter(lifespan=close_limiter))
    document_429(app)

"""Rate limits per client IP and per user, in Redis (DESIGN.md, "Beyond one request").

What is counted
- Every request under `/api/` counts once per client IP (RATE_LIMIT_DEFAULT_PER_IP) and, when
  it carries a valid access token, once per user (RATE_LIMIT_PER_USER).
- Two kinds of routes count in a stricter window *instead of* the general one for that
  subject: sign-in (POST /auth/login, /auth/signup, /auth/refresh, /auth/token,
  /auth/password) per IP
  (RATE_LIMIT_AUTH_PER_IP), and holds (POST /concerts/{id}/holds) per user
  (RATE_LIMIT_HOLDS_PER_USER). Replacing rather than adding keeps the hold, the hot path, at
  two windows. Joining a concert's waiting room (POST /concerts/{id}/queue) counts per IP in
  RATE_LIMIT_QUEUE_JOIN_PER_IP instead of the general window. Door scans
  (POST /concerts/{id}/check-ins) with a verified organiser token count in one window per
  organiser (RATE_LIMIT_CHECK_INS_PER_USER) instead of both general ones: a venue's scanners
  share the organiser's account and often one address, hundreds of scans a minute (other
  callers of that route count as usual). Password logins (/auth/login,
  /auth/token) and checks (/auth/password, /auth/signup: a retried signup logs in) also count
  per email address (RATE_LIMIT_LOGIN_PER_EMAIL), so guesses spread
  over many IPs still get a few tries per account; the key holds a hash of the address, not
  the address.
- Not counted: the operational routes (/healthz, /readyz, /metrics, /docs, /openapi.json are
  outside `/api/`), webhooks (`/api/v1/webhooks/`: Stripe retries a refused delivery for days,
  so throttling it only delays confirmations) and CORS preflights (answered by CORSMiddleware,
  which wraps this one).
A refusal is 429 `RateLimited` with `Retry-After` (whole seconds, at least 1), counted in
`http_rate_limited_total{scope}` (scope: ip, user, auth, holds, login, queue, door).

Strategy: the sliding window counter of `limits` (its algorithm, its keys; `limits` also
parses the "600/minute" settings). Per key it keeps two integers (this window and the previous
one) and weighs the previous one by how much of it still overlaps the moving window: O(1)
memory, and time taken from Redis key TTLs, not app clocks. A fixed window is as cheap but
unfair at its edges (a client can send twice the limit around a boundary, and everyone's
budget resets at the same instant, which synchronises retries in a flash sale); a moving
window is exact but stores one entry per request (600 entries for "600/minute") and trims a
list on every hit. A refused request is not counted, so a client that keeps hammering is let
back in as soon as its window allows it.

Keys: `ratelimit:{LIMITER/<scope>/<subject>/<count>/<multiples>/<period>}` plus `.../-1` for
the previous window, both with the same hash tag, so each window lives in one Redis Cluster
slot. The subject is the client IP (an IPv6 client counts per /64, as one host usually owns a
whole /64), the user id from the access token, or a hash of the login email.

Round trips: our own script (app/platform/lua/ratelimit_hit.lua, the same algorithm as
`limits`' acquire script) counts any number of windows in one call and answers, for a refused
window, its Retry-After too. On a single Redis server the windows of every request that
arrives while the previous call is in flight go out together in the next call
(`GroupCommit`, app/platform/batching.py): one round trip per request when traffic is light,
one per batch under a stampede. On a cluster each window is its own call (its two keys share
a slot, different windows need not), the windows of a request concurrently. `limits` itself
costs one script call per window plus one more to read a refused window's reset time, and its
client-side work per call was most of the limiter's cost on a hold (bench/ratio.py profile:
13 % of a hold's server CPU with two windows; docs/performance.md has the figures).

Why a pure ASGI middleware (and not dependencies): it runs before routing, body parsing and
the route's dependencies, so a flood is refused before it costs an argon2 hash or a JSON parse,
unknown `/api/` paths are covered too, and no router has to remember to opt in. It matches the
two stricter routes by method and path (`_AUTH_ROUTE`, `_HOLD_ROUTE`; a test pins them to the
real routes). The per-email limit needs the parsed body, so it is a dependency on those two
routes. BaseHTTPMiddleware is avoided: it costs a task hop per request and breaks streaming.

The user id comes from the bearer token, verified (an unverified `sub` would let anyone spend
another user's budget). Verified tokens are remembered in a bounded LRU (`TokenSubjects`):
clients reuse an access token for its whole lifetime; an entry is dropped once its token has
expired. The verified claims are stashed in the request's scope, and the route's
`current_user` takes them from there instead of verifying the same token again.

Fail open: the limiter has its own connection pool (built like the app's, from REDIS_URL) with
RATE_LIMIT_TIMEOUT_SECONDS as connect, read and pool-wait bound. If Redis refuses, fails or does
not answer a call within that, the request goes through, a warning is logged and checks are
skipped for
`FAIL_OPEN_SECONDS` (so a dead Redis costs one timeout every few seconds, not one per request,
and the log gets at most one line per pause). A rate limiter must not turn a Redis blip into an
outage of routes that do not need Redis. A check that is slow only because this process is
busy (a stampede: thousands of requests queued on the event loop) is not a Redis failure and
does not fail open; an earlier version bounded the whole check and lifted the limits during
every large burst.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import API_PREFIX
from app.auth.emails import normalize_email
from app.auth.tokens import Claims, TokenService
from app.errors import AppError, ErrorBody, NotAuthenticated
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
    "LoginEmailLimit",
    "RateLimitMiddleware",
    "RateLimited",
    "RateLimiter",
    "TokenSubjects",
    "TokenUsernameLimit",
    "VERIFIED_ACCESS_KEY",
    "document_429",
    "install_rate_limits",
    "is_limited",
    "limit_login_by_email",
    "limit_password_check",
    "limit_token_by_username",
    "verified_access",
]

log = logging.getLogger(__name__)

LimitScope = Literal[
    "ip", "user", "auth", "holds", "login", "queue", "door", "busy", "streams", "streams_busy"
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
LIMITER_BATCH = 1024  # requests per script call at most (two windows each: ~2 ms of Redis)
TOKEN_CACHE_SIZE = 10_000  # remembered access tokens, about 4 MB
TOKEN_LEEWAY_SECONDS = 5  # TokenService.decode's leeway on `exp`
_MAX_TOKEN_BYTES = 4096  # longer bearer values are not ours: not decoded, not remembered
_STORAGE_ERRORS = (RedisError, OSError, TimeoutError)

_LIMITED_PREFIX = "/api/"
_UNLIMITED_PREFIX = f"{API_PREFIX}/webhooks/"
_AUTH_ROUTE = re.compile(rf"{re.escape(API_PREFIX)}/auth/(?:login|signup|refresh|token|password)")
_HOLD_ROUTE = re.compile(rf"{re.escape(API_PREFIX)}/concerts/[^/]+/holds")
_QUEUE_JOIN_ROUTE = re.compile(rf"{re.escape(API_PREFIX)}/concerts/[^/]+/queue")
_CHECK_IN_ROUTE = re.compile(rf"{re.escape(API_PREFIX)}/concerts/[^/]+/check-ins")

_ADVICE: Mapping[LimitScope, str] = {
    "ip": "Too many requests from your network address",
    "user": "Too many requests from your account",
    "auth": "Too many sign-in attempts from your network address",
    "holds": "Too many hold attempts from your account",
    "login": "Too many login attempts for this account",
    "queue": "Too many queue joins from your network address",
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
    Redis trouble (see "Fail open" in the module docstring)."""

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
        # call (module docstring, "Round trips").
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


VERIFIED_ACCESS_KEY = "encore.verified_access"
"""Scope key of the request's verified access token: `(token, Claims)`. `current_user`
(app/deps.py) reuses it instead of verifying the same token a second time."""


def verified_access(scope: Scope, token: str) -> Claims | None:
    """The claims the limiter verified for exactly this token, if still unexpired."""
    stashed = scope.get(VERIFIED_ACCESS_KEY)
    if stashed is None or stashed[0] != token or not _unexpired(stashed[1]):
        return None
    claims: Claims = stashed[1]
    return claims


def _unexpired(claims: Claims) -> bool:
    # The same leeway as TokenService.decode: a remembered token is never accepted longer.
    return time.time() < claims.expires_at.timestamp() + TOKEN_LEEWAY_SECONDS


class TokenSubjects:
    """The user id of a request's bearer token, verified once per token and then remembered
    (a bounded LRU, entries dropped once the token expires). The verified claims are also
    stashed in the scope (VERIFIED_ACCESS_KEY): the route's `current_user` takes them from
    there instead of decoding the token again."""

    def __init__(self, tokens: TokenService, size: int = TOKEN_CACHE_SIZE) -> None:
        self._tokens = tokens
        self._size = size
        self._known: OrderedDict[bytes, Claims] = OrderedDict()

    def __call__(self, scope: Scope) -> str | None:
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if authorization is None:
            return None
        kind, _, token = authorization.partition(b" ")
        token = token.strip()
        if kind.lower() != b"bearer" or not token or len(token) > _MAX_TOKEN_BYTES:
            return None
        text = token.decode("latin-1")
        claims = self._known.get(token)
        if claims is not None and _unexpired(claims):
            self._known.move_to_end(token)
        else:
            try:
                claims = self._tokens.decode(text, "access")
            except NotAuthenticated:
                self._known.pop(token, None)
                return None  # the route answers 401; the IP window still counts the request
            self._known[token] = claims
            if len(self._known) > self._size:
                self._known.popitem(last=False)
        scope[VERIFIED_ACCESS_KEY] = (text, claims)
        return claims.sub


class RateLimitMiddleware:
    """Counts every `/api/` request per client IP and per user; answers 429 when over."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        client_address: Callable[[Scope], str],
        user_of: Callable[[Scope], str | None],
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.client_address = client_address
        self.user_of = user_of

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
        path = scope["path"]
        is_post = scope["method"] == "POST"
        ip = client_key(self.client_address(scope))  # IPv6 clients count per /64
        # The route's own window first: when several are over, its advice is the useful one.
        ip_scope: LimitScope = "ip"
        if is_post and _AUTH_ROUTE.fullmatch(path):
            ip_scope = "auth"
        elif is_post and _QUEUE_JOIN_ROUTE.fullmatch(path):
            ip_scope = "queue"
        hits = [Hit(ip_scope, ip)]
        user_id = self.user_of(scope)
        if user_id is not None and is_post and _organisers_scan(path, scope):
            return [Hit("door", user_id)]  # instead of the address's and the user's windows
        if user_id is not None:
            if is_post and _HOLD_ROUTE.fullmatch(path):
                hits.insert(0, Hit("holds", user_id))
            else:
                hits.append(Hit("user", user_id))
        return hits


def _organisers_scan(path: str, scope: Scope) -> bool:
    """A door scan whose access token (verified by `user_of` just now) is an organiser's."""
    stashed = scope.get(VERIFIED_ACCESS_KEY)
    organiser = stashed is not None and stashed[1].role == "admin"
    return organiser and _CHECK_IN_ROUTE.fullmatch(path) is not None


def is_limited(path: str) -> bool:
    """Counted by the rate limits: the API, except webhooks."""
    return path.startswith(_LIMITED_PREFIX) and not path.startswith(_UNLIMITED_PREFIX)


# --- The per-email limit on password logins: dependencies, as they need the parsed body. ---


def _email_subject(email: str) -> str:
    """A hash, so login emails do not sit in Redis key names; of the normalised address, so
    look-alike spellings of one account share its window (app/auth/emails.py)."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]


async def _limit_login(request: Request, email: object) -> None:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or not isinstance(email, str) or not email.strip():
        return  # limits off, or a body the route will refuse with 422
    refusal = await limiter.check(Hit("login", _email_subject(email)))
    if refusal is not None:
        raise refusal


async def limit_login_by_email(request: Request) -> None:
    """POST /auth/login: the JSON body's `email` (FastAPI has read the body already)."""
    try:
        body = await request.json()
    except ValueError:
        return  # not JSON: the route refuses it with 422
    await _limit_login(request, body.get("email") if isinstance(body, dict) else None)


async def limit_password_check(request: Request, email: str) -> None:
    """A password checked outside a login (POST /auth/password) counts in the account's login
    window: a stolen access token gets no more guesses than a login form."""
    await _limit_login(request, email)


async def limit_token_by_username(request: Request) -> None:
    """POST /auth/token: the form's `username`, which is the email."""
    form = await request.form()
    await _limit_login(request, form.get("username"))


LoginEmailLimit = Depends(limit_login_by_email)
TokenUsernameLimit = Depends(limit_token_by_username)


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


def install_rate_limits(app: FastAPI, settings: Settings) -> None:
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
        client_address=ClientAddress(parse_networks(settings.trusted_proxies)),
        user_of=TokenSubjects(TokenService(settings)),
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

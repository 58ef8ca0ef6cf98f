"""Idempotency-Key for unsafe POSTs, backed by Redis (docs/api.md, "Idempotency").

A route declares `idem_key: IdempotencyKeyHeader = None` and wraps its service call:

    return await idempotency.run(
        user_id=user.id, key=idem_key, request=request, call=lambda: service.hold(...),
        status_code=201,
    )

Per (user, key) one Redis record, `idem:{u:<user id>}:<sha256 of the key>`, moves through
    (absent) --claim--> running --success or business error--> done (kept 24 h, replayed)
                           \\--5xx, 429, crash, cancellation--> (absent: the client may retry)
A running record expires by itself after `in_flight_seconds`, so a process that dies mid-call
does not block the key for a day. Every transition is one Lua script (app/platform/lua/), and
only the request that claimed a record (it holds the record's random token) may finish or
delete it: a request that outlived its in-flight lifetime cannot overwrite a newer claim.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Literal

import anyio
from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter
from redis.exceptions import RedisError

from app.errors import AppError, Conflict, ServiceUnavailable, ValidationError
from app.platform.redis import RedisClient

__all__ = [
    "IDEMPOTENCY_ERRORS",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyKeyHeader",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "Reply",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL_SECONDS = 86_400
IN_FLIGHT_SECONDS = 60
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# The field name FastAPI gives header errors (see errors._location), so a key that is too long
# (refused by the header declaration) and one with bad characters (refused here) look alike.
_KEY_FIELD = "header.Idempotency-Key"
# Visible ASCII only: keys are compared byte for byte, and spaces, control or non-ASCII
# characters invite keys that look the same but differ (or get rewritten by a proxy on the way).
_VALID_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY_LENGTH,
        description=(
            "Optional. 1 to 255 visible ASCII characters, unique per operation (a UUID is a good "
            "choice). Retrying with the same key and body within 24 h replays the first response "
            "(header `Idempotent-Replayed: true`) instead of running the operation again."
        ),
    ),
]
"""Declare as `idem_key: IdempotencyKeyHeader = None` (FastAPI wants the default after `=`)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A call's answer when its status depends on the outcome (201 created vs 200 existing)."""

    body: BaseModel
    status_code: int


class IdempotencyKeyReused(AppError):
    status_code = 422
    detail = (
        "This Idempotency-Key was already used for a different request; "
        "send a new key for a new request."
    )


class IdempotencyKeyInFlight(Conflict):
    detail = "A request with this Idempotency-Key is still being processed; retry shortly."
    headers = {"Retry-After": "1"}


IDEMPOTENCY_ERRORS: tuple[type[AppError], ...] = (IdempotencyKeyReused, IdempotencyKeyInFlight)
"""For a route's `responses=error_responses(*IDEMPOTENCY_ERRORS, ...)`."""


class _Running(BaseModel):
    """Claimed, call in progress. The token makes each claim's bytes unique: the scripts finish
    or delete a record only if it still is, byte for byte, the caller's own claim."""

    state: Literal["running"] = "running"
    fp: str
    token: str


class _Done(BaseModel):
    """The first answer, replayed to every retry with the same fingerprint."""

    state: Literal["done"] = "done"
    fp: str
    status: int
    body: str


_RECORD: TypeAdapter[_Running | _Done] = TypeAdapter(
    Annotated[_Running | _Done, Field(discriminator="state")]
)


def _load_script(name: str) -> str:
    return files("app.platform").joinpath("lua", name).read_text(encoding="utf-8")


_CLAIM_LUA = _load_script("idempotency_claim.lua")
_COMPLETE_LUA = _load_script("idempotency_complete.lua")
_RELEASE_LUA = _load_script("idempotency_release.lua")


def _check_key(key: str) -> None:
    if not _VALID_KEY.fullmatch(key):
        raise ValidationError(
            _KEY_FIELD, f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters, e.g. a UUID"
        )


def _redis_key(user_id: str, key: str) -> str:
    # Hashed: the stored key has a fixed length whatever the client sent. The hash tag puts all of
    # a user's records in one Redis Cluster slot; each script touches exactly one key anyway.
    return f"idem:{{u:{user_id}}}:{hashlib.sha256(key.encode('ascii')).hexdigest()}"


def _fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    # Length-prefixed parts: no two different requests can concatenate to the same bytes.
    # surrogatepass: a decoded path may hold lone surrogates, which plain UTF-8 refuses.
    for part in (method.encode(), path.encode("utf-8", "surrogatepass"), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _replayable(status_code: int) -> bool:
    # A business refusal (409 sold out, 404, 422...) is the answer to this request and is kept.
    # A 5xx or a 429 says "try again later": storing it would refuse the very retry it asks for.
    return status_code < 500 and status_code != 429


def _json_response(body: str, status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=body, status_code=status_code, media_type="application/json", headers=headers
    )


class Idempotency:
    """Runs a route's call at most once per (user, Idempotency-Key). Build once per Redis client:
    the scripts are registered on it here."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        ttl_seconds: int = IDEMPOTENCY_TTL_SECONDS,
        in_flight_seconds: int = IN_FLIGHT_SECONDS,
    ) -> None:
        if ttl_seconds <= 0 or in_flight_seconds <= 0:
            raise ValueError("idempotency lifetimes must be positive")
        self._ttl_ms = ttl_seconds * 1000
        self._in_flight_ms = in_flight_seconds * 1000
        self._claim = redis.register_script(_CLAIM_LUA)
        self._complete = redis.register_script(_COMPLETE_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    async def run(
        self,
        *,
        user_id: str,
        key: str | None,
        request: Request,
        call: Callable[[], Awaitable[BaseModel | Reply]],
        status_code: int,
    ) -> Response:
        """`call()` rendered as JSON with `status_code`; with a key, at most once per user and key.

        Raises IdempotencyKeyInFlight, IdempotencyKeyReused, ValidationError (bad key),
        ServiceUnavailable (Redis down: without it no promise can be kept), or what `call` raised.
        """
        if key is None:
            body, status_code = _render(await call(), status_code)
            return _json_response(body, status_code)
        _check_key(key)
        redis_key = _redis_key(user_id, key)
        fp = _fingerprint(request.method, request.url.path, request.url.query, await request.body())
        claim = _Running(fp=fp, token=secrets.token_hex(16)).model_dump_json()
        try:
            existing: bytes | str | None = await self._claim(
                keys=[redis_key], args=[claim, self._in_flight_ms]
            )
        except RedisError as exc:
            raise ServiceUnavailable("Redis is not answering; retry shortly.") from exc
        if existing is not None:
            return _answer_from(_RECORD.validate_json(existing), fp)

        try:
            body, status_code = _render(await call(), status_code)
        except AppError as exc:
            if _replayable(exc.status_code):
                # Rendered exactly as the error handler will render it for this first answer.
                rendered = bytes(JSONResponse(content=exc.body()).body).decode()
                await self._finish(redis_key, claim, fp, exc.status_code, rendered)
            else:
                await self._forget(redis_key, claim)
            raise
        except BaseException:
            # Crashes and cancellations (the client went away) alike: free the key so the
            # client's retry runs. Shielded: a cancel scope cancels every await inside it, so
            # a release needing a reconnect (or a NOSCRIPT reload) would never reach Redis.
            with anyio.CancelScope(shield=True):
                await self._forget(redis_key, claim)
            raise
        await self._finish(redis_key, claim, fp, status_code, body)
        return _json_response(body, status_code)

    async def _finish(self, redis_key: str, claim: str, fp: str, status: int, body: str) -> None:
        done = _Done(fp=fp, status=status, body=body).model_dump_json()
        try:
            stored = await self._complete(keys=[redis_key], args=[claim, done, self._ttl_ms])
        except RedisError:
            # The operation did happen: answering 503 now would invite a retry that runs it
            # again. Return the real outcome; the running record lapses by itself.
            log.warning("idempotency: result not stored, Redis failed", exc_info=True)
            return
        if not stored:
            log.warning(
                "idempotency: in-flight lifetime lapsed before the call finished; another "
                "request owns the key now, this result is not stored",
                extra={"redis_key": redis_key},
            )

    async def _forget(self, redis_key: str, claim: str) -> None:
        try:
            await self._release(keys=[redis_key], args=[claim])
        except RedisError:
            # Never mask the original error; the running record lapses by itself.
            log.warning("idempotency: in-flight record not released, Redis failed", exc_info=True)


def _render(result: BaseModel | Reply, status_code: int) -> tuple[str, int]:
    if isinstance(result, Reply):
        return result.body.model_dump_json(), result.status_code
    return result.model_dump_json(), status_code


def _answer_from(record: _Running | _Done, fp: str) -> Response:
    if record.fp != fp:
        raise IdempotencyKeyReused()
    if isinstance(record, _Running):
        raise IdempotencyKeyInFlight()
    return _json_response(record.body, record.status, {REPLAYED_HEADER: "true"})

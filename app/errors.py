"""Domain errors and the one handler that renders them.

Services raise subclasses of AppError; the handler renders
`{"error": <class name>, "detail": <message>, **extra}` with the class's status code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.storage.errors import InvalidValue, StoreUnavailable

log = logging.getLogger(__name__)

# Redis errors that mean "not reachable right now" (BusyLoadingError: restarted, still loading).
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
)


class AppError(Exception):
    status_code: ClassVar[int] = 400
    detail: ClassVar[str] = "The request could not be processed."
    headers: ClassVar[Mapping[str, str] | None] = None

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.message = detail or self.detail
        self.extra = extra
        super().__init__(self.message)

    @property
    def name(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, Any]:
        return {"error": self.name, "detail": self.message, **self.extra}

    def response_headers(self) -> Mapping[str, str] | None:
        return self.headers


class NotAuthenticated(AppError):
    status_code = 401
    detail = "Log in first: send a valid access token as `Authorization: Bearer <token>`."
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code = 403
    detail = "Your account is not allowed to do this."


class NotFound(AppError):
    status_code = 404
    detail = "Not found."


class Conflict(AppError):
    status_code = 409
    detail = "The request conflicts with the current state."


class ValidationError(AppError):
    """422 raised by a service for input the schema alone could not judge."""

    status_code = 422
    detail = "Invalid request."

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            f"Invalid request: {field}: {message}",
            fields=[{"field": field, "message": message, "type": "value_error"}],
        )


class ServiceUnavailable(AppError):
    """503: a dependency is down, or its circuit breaker is open. Every subclass renders as
    `ServiceUnavailable` (the contract's name), naming the dependency and when to retry."""

    status_code = 503
    detail = "A dependency is unavailable; retry shortly."
    dependency: ClassVar[str | None] = None
    retry_after: ClassVar[int] = 2

    def __init__(
        self, detail: str | None = None, *, dependency: str | None = None, retry_after: int = 0
    ) -> None:
        self.retry_after_seconds = max(1, retry_after or self.retry_after)
        extra: dict[str, Any] = {"retry_after_seconds": self.retry_after_seconds}
        if dependency or self.dependency:
            extra["dependency"] = dependency or self.dependency
        super().__init__(detail, **extra)

    @property
    def name(self) -> str:
        return "ServiceUnavailable"

    def response_headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class ErrorBody(BaseModel):
    """The shape of every error response."""

    error: str
    detail: str


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ValidationErrorBody(ErrorBody):
    """Every 422. `ValidationError` lists what is wrong in `fields`; the other 422 errors
    (UnknownSeats, IdempotencyKeyReused) carry their own extra fields instead."""

    fields: list[FieldError] = Field(default_factory=list)


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: one entry per status, naming the errors."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        entry = out.setdefault(err.status_code, {"model": ErrorBody, "description": ""})
        names = [n for n in entry["description"].split(", ") if n]
        entry["description"] = ", ".join([*names, err.__name__])
    return out


def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None) -> JSONResponse:
    return JSONResponse(status_code=status, content=dict(body), headers=dict(headers or {}))


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return _json(exc.status_code, exc.body(), exc.response_headers())


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {
            "field": _location(err.get("loc", ())),
            "message": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return _json(
        422,
        {"error": "ValidationError", "detail": f"Invalid request: {summary}", "fields": fields},
        None,
    )


_HTTP_NAMES = {
    400: "BadRequest",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method the path supports. Starlette's 405 names only the methods of the first
    route whose path matched, and FastAPI makes one route per method: `OPTIONS /concerts/{id}`
    answered `Allow: GET` although PATCH works too (found by Schemathesis)."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


# What FastAPI raises (400) when a JSON body is not even text (invalid UTF-8): malformed JSON,
# which the contract answers with 422 ValidationError, as it does for any other bad JSON.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        field = {"field": "body", "message": "not valid UTF-8 JSON", "type": "json_invalid"}
        body = {
            "error": "ValidationError",
            "detail": "Invalid request: body: not valid UTF-8 JSON",
            "fields": [field],
        }
        return _json(422, body, None)
    name = _HTTP_NAMES.get(exc.status_code, "HTTPError")
    detail = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return _json(exc.status_code, {"error": name, "detail": detail}, headers)


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable", extra={"reason": str(exc)})
    return await _app_error(
        _, ServiceUnavailable("The database is not answering; retry shortly.", dependency="store")
    )


async def _redis_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # Connection refused or reset, a timeout, or a server still loading after a restart: the
    # seat engine can't decide anything, so nothing was done; the client may retry.
    log.warning("redis unavailable", extra={"reason": type(exc).__name__})
    return await _app_error(
        _,
        ServiceUnavailable(
            "Seat availability is not answering; retry shortly.", dependency="redis"
        ),
    )


async def _invalid_value(_: Request, exc: Exception) -> JSONResponse:
    body = {
        "error": "ValidationError",
        "detail": "A value in the request can't be stored (for example a NUL character).",
        "fields": [],
    }
    return _json(422, body, None)


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    # Never leak internals: the log has the stack trace and the request id, the client gets neither.
    log.exception("unhandled error", exc_info=exc)
    return _json(
        500,
        {"error": "InternalError", "detail": "Something went wrong on our side; please retry."},
        None,
    )


def _document_validation_errors(app: FastAPI) -> None:
    """Every 422 in the OpenAPI schema as clients get it (ValidationErrorBody). FastAPI
    documents its own shape (`HTTPValidationError`, `detail` a list), which `_validation_error`
    replaces: the documented 422 did not match one real response (found by Schemathesis)."""
    generate = app.openapi
    ref = {"$ref": f"#/components/schemas/{ValidationErrorBody.__name__}"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # also cached in app.openapi_schema: amended in place
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        body = ValidationErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[ValidationErrorBody.__name__] = body
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                response = operation.get("responses", {}).get("422")
                if not isinstance(response, dict):
                    continue
                names = [n for n in response.get("description", "").split(", ") if n]
                names = [n for n in names if n != "Validation Error"]
                response["description"] = ", ".join(["ValidationError", *names])
                response["content"] = {"application/json": {"schema": ref}}
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(schema.get("paths", {})):
                components.pop(unused, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(InvalidValue, _invalid_value)
    for unavailable in REDIS_UNAVAILABLE:
        app.add_exception_handler(unavailable, _redis_unavailable)
    app.add_exception_handler(Exception, _unhandled)
    _document_validation_errors(app)

"""The hold route's plain case without FastAPI's per-request machinery: a deliberate second
path (docs/performance.md, "Deliberate second paths", has what it is worth).

`POST /concerts/{id}/holds` is the request a stampede is made of, and FastAPI's resolution of
its parameters and their sub-dependencies costs more CPU than the hold itself.

`FastHoldRoute` keeps the route exactly as declared (signature, OpenAPI, every error) and gives
it a handler that tries a fast path first: when the request is plain (JSON content type, a
bearer token that verifies, a body that `HoldCreate` accepts, the optional headers within
their limits) it builds the endpoint's arguments itself and calls the same endpoint. Anything
else (a missing or bad token, a body the model refuses, another content type, a header too
long) goes to FastAPI's own handler, unchanged, which answers it as it always has: the fast
path never decides an error, it only skips work on requests FastAPI would accept.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError

from app.auth.principal import principal_of
from app.container import Container
from app.errors import NotAuthenticated
from app.platform.idempotency import MAX_KEY_LENGTH
from app.seats.schemas import HoldCreate
from app.waiting_room.passes import MAX_PASS_LENGTH

__all__ = ["FastHoldRoute"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

# The endpoint's parameters, each built by `_plain_arguments` below.
ARGUMENTS = frozenset(
    {"concert_id", "body", "request", "user", "seats", "idempotency", "idem_key", "queue_pass"}
)


class FastHoldRoute(APIRoute):
    """An APIRoute (FastAPI's documented extension point) for the hold endpoint only."""

    fast_calls = 0  # requests the fast path answered (tests)

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        endpoint = self.endpoint
        declared = frozenset(inspect.signature(endpoint).parameters)
        if declared != ARGUMENTS:
            raise TypeError(
                f"{endpoint.__name__} takes {sorted(declared)} but the fast path builds "
                f"{sorted(ARGUMENTS)}: build the new arguments in app/seats/fast_hold.py"
            )

        async def handler(request: Request) -> Response:
            arguments = await _plain_arguments(request)
            if arguments is None:
                return await standard(request)
            FastHoldRoute.fast_calls += 1
            response: Response = await endpoint(**arguments)
            return response

        return handler


async def _plain_arguments(request: Request) -> dict[str, Any] | None:
    """The endpoint's arguments for a plain hold request, or None (FastAPI's path decides)."""
    headers = request.headers
    if headers.get("content-type") != "application/json":
        return None
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    idem_key = headers.get("idempotency-key")
    queue_pass = headers.get("x-queue-pass")
    if (idem_key is not None and len(idem_key) > MAX_KEY_LENGTH) or (
        queue_pass is not None and len(queue_pass) > MAX_PASS_LENGTH
    ):
        return None
    try:
        user = principal_of(request, token)
    except NotAuthenticated:
        return None
    try:
        body = HoldCreate.model_validate_json(await request.body())
    except ValidationError:
        return None
    container: Container = request.app.state.container
    return {
        "concert_id": request.path_params["concert_id"],
        "body": body,
        "request": request,
        "user": user,
        "seats": container.seats,
        "idempotency": container.idempotency,
        "idem_key": idem_key,
        "queue_pass": queue_pass,
    }

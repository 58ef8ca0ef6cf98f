"""The hold route's plain case without FastAPI's per-request machinery.

`POST /concerts/{id}/holds` is the request a stampede is made of. Its business (the concert
from the cache, the Lua hold, the event) costs about 155 us of CPU; FastAPI around it, resolving
six parameters and their sub-dependencies, parsing and validating the body, about 200 us more
(a cProfile of the route in process, docs/performance.md).

`FastHoldRoute` keeps the route exactly as declared (signature, OpenAPI, every error) and gives
it a handler that tries a fast path first: when the request is plain (JSON content type, a
bearer token that verifies, a body that `HoldCreate` accepts, the optional headers within
their limits) it builds the endpoint's arguments itself and calls the same endpoint. Anything
else (a missing or bad token, a body the model refuses, another content type, a header too
long) goes to FastAPI's own handler, unchanged, which answers it as it always has: the fast
path never decides an error, it only skips work on requests FastAPI would accept.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError

from app.container import Container
from app.deps import principal_of
from app.errors import NotAuthenticated
from app.platform.idempotency import MAX_KEY_LENGTH
from app.seats.schemas import HoldCreate
from app.waiting_room.passes import MAX_PASS_LENGTH

__all__ = ["FastHoldRoute"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class FastHoldRoute(APIRoute):
    """An APIRoute (FastAPI's documented extension point) for the hold endpoint only."""

    fast_calls = 0  # requests the fast path answered (tests)

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        endpoint = self.endpoint

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
        "c": container,
        "idem_key": idem_key,
        "queue_pass": queue_pass,
    }

"""A cap on request body size: 413 `PayloadTooLarge` before the body is read or parsed.

The largest legitimate bodies are a concert layout and a Stripe event, a few kilobytes each;
anything far bigger is someone trying to make the server buffer and parse it. A declared
Content-Length over the cap is refused at once, without reading a byte; a body without one
(chunked) is counted as it is read and refused as soon as it passes the cap, so memory use per
request stays bounded either way.

A pure ASGI middleware (no task hop, streaming untouched). It sits inside the request-context
and CORS middleware (the 413 has a request id and CORS headers) and inside the rate limiter (a
refused request still counts).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DETAIL = "The request body is larger than this service accepts ({limit} bytes at most)."


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = DETAIL.format(limit=self.max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        # Digits only, and the length checked first: int() of thousands of digits is slow.
        if declared.isdigit() and (len(declared) > 15 or int(declared) > self.max_bytes):
            response = JSONResponse(
                {"error": "PayloadTooLarge", "detail": detail},
                status_code=413,
                headers={"Connection": "close"},  # the unread body can't be skipped cheaply
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app: the app's error handler renders it (413
                    # PayloadTooLarge), FastAPI's body parsing lets HTTPException through.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)

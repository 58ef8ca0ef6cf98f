"""Compressed answers (zstd, Brotli or gzip, as the client accepts) by starlette-compress.

Only GET and HEAD answers are compressed: they are the large ones (a concert, a stadium's seat
map, lists), while a write's answer is small and on the on-sale's hot path, where wrapping it
would cost CPU for nothing (as for a request that accepts no encoding). Seat streams
(`Accept: text/event-stream`) are sent as they are: the same bytes go to every listener, and a
compressor per stream would cost CPU per listener. The web app's files are compressed once at
build time instead (app/web.py).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette_compress import CompressMiddleware

__all__ = ["MIN_COMPRESSED_BYTES", "ResponseCompression"]

MIN_COMPRESSED_BYTES = 1024  # smaller answers fit in a packet or two: not worth the CPU


class ResponseCompression:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._compressed = CompressMiddleware(app, minimum_size=MIN_COMPRESSED_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and _wants(scope):
            await self._compressed(scope, receive, send)
            return
        await self._app(scope, receive, send)


def _wants(scope: Scope) -> bool:
    """The client accepts some encoding and is not opening a seat stream."""
    accepts_encoding = False
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            accepts_encoding = True
        elif name == b"accept" and b"text/event-stream" in value:
            return False
    return accepts_encoding

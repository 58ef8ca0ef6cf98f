"""Compressed answers (zstd, Brotli or gzip, as the client accepts) by starlette-compress.

Only GET and HEAD answers are compressed: they are the large ones (a concert, a stadium's seat
map, lists), while a write's answer is small and on the on-sale's hot path, where wrapping it
would cost CPU for nothing. Seat streams (`Accept: text/event-stream`) are sent as they are:
the same bytes go to every listener, and a compressor per stream would cost CPU per listener.
The web app's files are compressed once at build time instead (app/web.py).
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
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or _is_stream(scope):
            await self._app(scope, receive, send)
            return
        await self._compressed(scope, receive, send)


def _is_stream(scope: Scope) -> bool:
    return any(k == b"accept" and b"text/event-stream" in v for k, v in scope["headers"])

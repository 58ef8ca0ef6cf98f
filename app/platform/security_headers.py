"""Security headers: `nosniff` on every response, and on HTML pages a Content-Security-Policy,
no framing, no referrer, and a browsing context of their own.

The JSON API needs little (a browser never renders it as a page, and `nosniff` keeps it that
way); HTML is where script injection, clickjacking and leaking URLs to other sites happen. The
pages served here are Swagger UI (/docs), ReDoc (/redoc) and, later, the single-page app.

Hook for the SPA (app/web.py): a page that needs another policy registers it by path prefix,
`HTML_POLICIES["/"] = "default-src 'self'; ..."` at import time. The longest matching prefix
wins; pages that match none get DEFAULT_HTML_POLICY, which allows only same-origin resources.

HSTS is left to the TLS terminator in front of the app (a header sent over plain HTTP means
nothing, and a wrong max-age on a shared domain is hard to take back).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Same-origin only, no plugins, no framing, forms and <base> pinned to this origin.
DEFAULT_HTML_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI and ReDoc (assets served from this origin by app/docs.py) start with an inline
# script and style themselves inline; ReDoc renders in a blob: worker. They show nothing but
# our own OpenAPI schema, so inline code there is ours.
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HTML_POLICIES: dict[str, str] = {"/docs": _DOCS_POLICY, "/redoc": _DOCS_POLICY}

_HTML_HEADERS = {
    "X-Frame-Options": "DENY",  # for browsers that ignore frame-ancestors
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def html_policy(path: str) -> str:
    """The Content-Security-Policy of an HTML page at `path` (longest registered prefix)."""
    matches = [p for p in HTML_POLICIES if path == p or path.startswith(p.rstrip("/") + "/")]
    return HTML_POLICIES[max(matches, key=len)] if matches else DEFAULT_HTML_POLICY


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", html_policy(scope["path"]))
                    for name, value in _HTML_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

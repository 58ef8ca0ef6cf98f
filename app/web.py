"""The web app (`frontend/`, built into `frontend/dist`) served at `/`.

Nothing here is a route: the app answers only what no API, docs or operations route matched.
A GET or HEAD that would be a 404 becomes
- a file of the build: `/assets/*` (content-hashed names, cached for a year) or a top-level
  file such as `/favicon.svg`; the build's pre-compressed copy (`.br`, `.gz`, made by
  `vite build`) when the browser accepts it;
- `index.html` for any other path whose last segment has no dot (a client route such as
  `/concerts/<id>`): the app's router takes it from there.
Paths under /api, /docs, /redoc, /openapi.json, /healthz, /readyz, /metrics and /static keep
their JSON 404, and every other method keeps the normal answer (404 or 405), so serving the
UI changes no API behaviour. HTML responses carry a Content-Security-Policy that allows only
this origin (and Stripe's origins when the Stripe provider is on) plus the usual hardening
headers. Without a build, `/` explains how to make one; the API works either way.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from mimetypes import guess_type
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

ErrorHandler = Callable[[Request, Exception], Response | Awaitable[Response]]

DIST = Path(__file__).resolve().parent.parent / "frontend" / "dist"

# Never answered by the web app, even with a 404: these belong to the API and operations.
RESERVED_PREFIXES = (
    "/api",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/static",
)

# Stripe.js must be loaded from Stripe; its Payment Element lives in Stripe's frames
# (docs.stripe.com/security/guide#content-security-policy).
_STRIPE_SCRIPTS = "https://js.stripe.com https://*.js.stripe.com"
_STRIPE_FRAMES = "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com"
_STRIPE_CONNECT = "https://api.stripe.com"

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Encore: web app not built</title></head>
<body><h1>The web app is not built</h1>
<p>The API is running: see <a href="/docs">/docs</a>. To build the web app, install Node.js
18 or later and run <code>make run</code> again, or:</p>
<pre>npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build</pre>
</body></html>
"""


def content_security_policy(*, stripe: bool) -> str:
    script = "'self'" + (f" {_STRIPE_SCRIPTS}" if stripe else "")
    connect = "'self'" + (f" {_STRIPE_CONNECT}" if stripe else "")
    frames = _STRIPE_FRAMES if stripe else "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {script}",
            # React sets style properties through the CSSOM, which CSP does not restrict.
            "style-src 'self'",
            "img-src 'self' data:" + (" https://*.stripe.com" if stripe else ""),
            "font-src 'self'",
            f"connect-src {connect}",
            f"frame-src {frames}",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ]
    )


def security_headers(*, stripe: bool) -> dict[str, str]:
    """Headers of every HTML page of the web app."""
    return {
        "Content-Security-Policy": content_security_policy(stripe=stripe),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        # The camera for this origin only: the door page reads ticket QR codes (docs/door.md).
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
        # A new build must be picked up at once: the HTML names the hashed assets.
        "Cache-Control": "no-cache",
    }


def _reserved(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PREFIXES)


def _build_file(dist: Path, path: str) -> Path | None:
    """The file of the build a URL path names, if it exists inside `dist`."""
    relative = path.lstrip("/")
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    root = dist.resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def install_web(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the built web app (`dist`, default frontend/dist) for GET/HEAD requests no route
    matched."""
    dist = dist or DIST
    stripe = app.state.settings.payment_provider == "stripe"
    html_headers = security_headers(stripe=stripe)
    asset_headers: Mapping[str, str] = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    # Whatever renders other HTTP errors (the app's JSON error shape) still renders ours.
    fallback = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def not_found(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if request.method not in ("GET", "HEAD") or _reserved(path):
            return await _render(fallback, request, exc)
        file = _build_file(dist, path)
        if file is not None:
            if file.name == "index.html":
                return FileResponse(file, media_type="text/html", headers=html_headers)
            immutable = path.startswith("/assets/")
            headers = dict(asset_headers if immutable else {"X-Content-Type-Options": "nosniff"})
            return _file_response(file, request.headers.get("accept-encoding", ""), headers)
        last = path.rsplit("/", 1)[-1]
        if path.startswith("/assets/") or "." in last:
            return await _render(fallback, request, exc)  # a missing file, not a client route
        index = dist / "index.html"
        if index.is_file():
            return FileResponse(index, media_type="text/html", headers=html_headers)
        if path == "/":
            return HTMLResponse(_NOT_BUILT, status_code=404, headers=html_headers)
        return await _render(fallback, request, exc)

    app.add_exception_handler(404, not_found)


# Pre-compressed copies the build writes beside a file, best first (frontend/vite.config.ts).
_PRECOMPRESSED = (("br", ".br"), ("gzip", ".gz"))


def accepted_encodings(accept_encoding: str) -> set[str]:
    """The content codings an Accept-Encoding header allows (those without q=0)."""
    accepted: set[str] = set()
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        if not coding.strip():
            continue
        quality = params.strip().removeprefix("q=").strip() if params else "1"
        try:
            if float(quality or "1") > 0:
                accepted.add(coding.strip().lower())
        except ValueError:
            continue
    return accepted


def _file_response(file: Path, accept_encoding: str, headers: dict[str, str]) -> FileResponse:
    """The file, or its pre-compressed copy in a coding the browser accepts."""
    media_type = guess_type(file.name)[0] or "application/octet-stream"
    accepted = accepted_encodings(accept_encoding)
    for coding, suffix in _PRECOMPRESSED:
        compressed = file.with_name(file.name + suffix)
        if (coding in accepted or "*" in accepted) and compressed.is_file():
            headers |= {"Content-Encoding": coding, "Vary": "Accept-Encoding"}
            return FileResponse(compressed, media_type=media_type, headers=headers)
    if any(file.with_name(file.name + suffix).is_file() for _, suffix in _PRECOMPRESSED):
        headers["Vary"] = "Accept-Encoding"
    return FileResponse(file, media_type=media_type, headers=headers)


async def _render(handler: ErrorHandler, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    return await result if inspect.isawaitable(result) else result

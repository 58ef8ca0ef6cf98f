"""The app the fuzzers attack: its own SQLite file, its own Redis database, nothing shared.

Used by tests/fuzz (Schemathesis) and tests/model (the state machine). Each builds one app
with `make_settings` (rate limits off, background jobs off so the test controls time) and, when
the Redis server allows it, a Redis database number of its own, so a FLUSHDB or a stray key
never touches the other tests' data.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.checkout.webhook import WEBHOOK_PATH
from app.payments.signature import sign
from tests.conftest import TEST_REDIS_URL

# The database numbers of the fuzzers (the shared test app uses TEST_REDIS_URL's own).
SCHEMATHESIS_REDIS_DB = 13
MODEL_REDIS_DB = 14


def redis_url_with_db(db: int, base: str = TEST_REDIS_URL) -> str | None:
    """`base` pointed at database `db`, if that server has such a database (a cluster, or a
    server with fewer databases, has not: None)."""
    parts = urlsplit(base)
    if parts.scheme not in ("redis", "rediss"):
        return None
    url = urlunsplit(parts._replace(path=f"/{db}"))
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.ResponseError:  # "DB index is out of range"
        return None
    finally:
        client.close()
    return url


# A webhook request whose Stripe-Signature header is this gets a real signature (see below).
SIGN_ME = "fuzz-sign-me"


class SignWebhooks:
    """ASGI wrapper: signs webhook requests that ask for it (Stripe-Signature: SIGN_ME) with the
    app's webhook secret, over the exact body they carry. Only Stripe can sign events, so
    without this a fuzzer never gets past the signature check; with it, generated events reach
    the event handling, where a malformed event must be a 400 or a no-op, never a 500 (Stripe
    would retry a 500 for days). Unsigned and wrongly signed requests pass through unchanged."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wants = (b"stripe-signature", SIGN_ME.encode())
        if scope["type"] != "http" or scope["path"] != WEBHOOK_PATH:
            await self.app(scope, receive, send)
            return
        if wants not in scope["headers"]:
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
        signature = sign(body, self.secret).encode()
        headers = [(k, signature if k == b"stripe-signature" else v) for k, v in scope["headers"]]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": headers}, replay, send)

"""The ASGI app: `app.main:app`, built by `create_app()`."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import ValidationError

from app.account.router import router as account_router
from app.auth.principal import Principals
from app.auth.router import router as auth_router
from app.auth.tokens import TokenService
from app.checkout.router import router as checkout_router
from app.checkout.transfer_router import router as transfer_router
from app.checkout.webhook import router as webhook_router
from app.concerts.demo import seed_demo
from app.concerts.router import router as concerts_router
from app.container import build_container
from app.docs import install_docs
from app.door.router import router as door_router
from app.errors import install_error_handlers
from app.ops import router as ops_router
from app.payments.router import router as payments_router
from app.platform.body_limit import BodyLimitMiddleware
from app.platform.client_ip import ForwardedProto, parse_networks
from app.platform.collector import settle_collector
from app.platform.compression import ResponseCompression
from app.platform.in_flight import InFlightLimit
from app.platform.logging import configure_logging, without_password
from app.platform.middleware import RequestContextMiddleware
from app.platform.ratelimit import document_429, install_rate_limits
from app.platform.security_headers import SecurityHeadersMiddleware
from app.seats.router import router as seats_router
from app.settings import Settings, UnsafeConfiguration, load_settings
from app.waiting_room.lottery_api import router as lottery_router
from app.waiting_room.router import router as waiting_room_router
from app.web import install_web
from app.workers.jobs import start_jobs
from app.workers.loop import stop_all

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    container = build_container(settings)
    store = container.store
    background: list[asyncio.Task[None]] = []
    try:
        await store.initialize()
        if settings.admin_email and settings.admin_password:
            admin = await container.accounts.ensure_admin(
                settings.admin_email, settings.admin_password.get_secret_value()
            )
            log.info("admin account ensured", extra={"email": admin.email})
        if settings.seed_demo:
            seeded = await seed_demo(container.catalogue)
            if seeded:
                log.info("seeded demo concerts", extra={"count": len(seeded)})
        app.state.container = container
        if settings.sweeper_in_process:
            background += start_jobs(container)
        settle_collector(settings.gc_young_threshold)
        log.info(
            "service started",
            extra={
                "env": settings.app_env,
                "store": settings.store,
                "redis": without_password(settings.redis_url),
            },
        )
        yield
    finally:
        await stop_all(background)
        await container.close()


_TAGS = (
    "auth",
    "concerts",
    "seats",
    "waiting room",
    "checkout",
    "payments",
    "account",
    "door",
    "operations",
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, json_logs=settings.log_json)
    app = FastAPI(
        title=settings.app_name,
        version="0.1.0",
        description=(
            "Concert ticket on-sales: browse concerts, hold seats, pay, get tickets. "
            "Use **Authorize** with your email and password to call the protected routes."
        ),
        lifespan=lifespan,
        openapi_tags=[{"name": tag} for tag in _TAGS],
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    # Who is calling: one verifier and its cache for the limiter and the routes alike.
    app.state.principals = principals = Principals(TokenService(settings))
    install_error_handlers(app)
    install_docs(app)
    # The routes a crowd calls are matched first: the router tries the routes in order (each
    # try costs CPU: docs/performance.md, "Figures moved out of code comments"), and holds and
    # queue polls are most of an on-sale's requests. No path matches two routes, so the order
    # changes nothing else; the docs keep their order (_TAGS).
    app.include_router(seats_router)
    app.include_router(waiting_room_router)
    app.include_router(auth_router)
    app.include_router(concerts_router)
    app.include_router(checkout_router)
    app.include_router(transfer_router)
    app.include_router(webhook_router)
    app.include_router(payments_router)
    app.include_router(account_router)
    app.include_router(door_router)
    app.include_router(ops_router)
    app.include_router(lottery_router)
    install_web(app)  # the built web app at `/` (frontend/dist), for what no route matched
    app.add_middleware(ResponseCompression)  # large GET answers, as the client accepts
    # Inside the rate limiter (a refused body still counts) and CORS (a browser reads the 413).
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Before CORS: a 429 then carries the CORS headers.
    install_rate_limits(app, settings, principals.of_request)
    if settings.http_max_in_flight:  # outside the limiter: a shed request costs no Redis call
        app.add_middleware(InFlightLimit, limit=settings.http_max_in_flight)
        if not settings.rate_limit_enabled:
            document_429(app)  # the limiter documents its 429s itself
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Queue-Pass"],
            # Browser code must be able to read when to retry (429, 503) and which request failed.
            expose_headers=["Retry-After", "X-Request-ID", "Idempotent-Replayed"],
        )
    if settings.trusted_proxies.strip():  # the client's scheme, from our own proxies only
        app.add_middleware(ForwardedProto, trusted_proxies=parse_networks(settings.trusted_proxies))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    return app


def _create_or_exit() -> FastAPI:
    try:
        return create_app()
    except (UnsafeConfiguration, ValidationError) as exc:
        # A clear message and a non-zero exit instead of a stack trace.
        sys.exit(f"Refusing to start: {exc}")


app = _create_or_exit()

"""Annotated dependency aliases. Tests swap what they need with `app.dependency_overrides`.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in the thread pool, and
ten thread hops per request halved the hold throughput (see bench/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.api import API_PREFIX
from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.checkout.service import Checkout
from app.concerts.cache import ConcertCache
from app.container import Container
from app.errors import Forbidden, NotAuthenticated
from app.events.publisher import EventPublisher
from app.platform.idempotency import Idempotency
from app.platform.ratelimit import verified_access
from app.platform.redis import RedisClient
from app.seats.engine import SeatEngine
from app.seats.seatmap import SeatMapCache
from app.seats.state import SeatState
from app.seats.stream import SeatEventHub
from app.settings import Settings
from app.storage.ports import Store

# auto_error=False: a missing token must render as our NotAuthenticated error, not FastAPI's.
_bearer = OAuth2PasswordBearer(tokenUrl=f"{API_PREFIX}/auth/token", auto_error=False)


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_settings(c: ContainerDep) -> Settings:
    return c.settings


async def get_store(c: ContainerDep) -> Store:
    return c.store


async def get_redis(c: ContainerDep) -> RedisClient:
    return c.redis


async def get_tokens(c: ContainerDep) -> TokenService:
    return c.tokens


async def get_passwords(c: ContainerDep) -> PasswordHasher:
    return c.passwords


async def get_concert_cache(c: ContainerDep) -> ConcertCache:
    return c.concerts


async def get_engine(c: ContainerDep) -> SeatEngine:
    return c.engine


async def get_seat_state(c: ContainerDep) -> SeatState:
    return c.seat_state


async def get_seat_maps(c: ContainerDep) -> SeatMapCache:
    return c.seat_maps


async def get_seat_events(c: ContainerDep) -> SeatEventHub:
    return c.seat_events


async def get_idempotency(c: ContainerDep) -> Idempotency:
    return c.idempotency


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]


async def get_events(c: ContainerDep) -> EventPublisher:
    return c.events


EventsDep = Annotated[EventPublisher, Depends(get_events)]


async def get_checkout(c: ContainerDep) -> Checkout:
    return c.checkout


CheckoutDep = Annotated[Checkout, Depends(get_checkout)]
SeatEngineDep = Annotated[SeatEngine, Depends(get_engine)]
SeatStateDep = Annotated[SeatState, Depends(get_seat_state)]
SeatMapsDep = Annotated[SeatMapCache, Depends(get_seat_maps)]
SeatEventHubDep = Annotated[SeatEventHub, Depends(get_seat_events)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
RedisDep = Annotated[RedisClient, Depends(get_redis)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
PasswordsDep = Annotated[PasswordHasher, Depends(get_passwords)]
ConcertCacheDep = Annotated[ConcertCache, Depends(get_concert_cache)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, read from the access token alone (no store read on the hot path)."""

    id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def principal_of(request: Request, token: str) -> Principal:
    """The caller of a verified access token (NotAuthenticated if it does not verify)."""
    # The rate limiter verified this very token already (and stashed the claims): one HMAC
    # and JSON decode per request instead of two (docs/performance.md).
    claims = verified_access(request.scope, token)
    if claims is None:
        container: Container = request.app.state.container
        claims = container.tokens.decode(token, "access")
    return Principal(id=claims.sub, role=claims.role)


async def current_user(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    if not token:
        raise NotAuthenticated()
    return principal_of(request, token)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def admin_user(user: CurrentUser) -> Principal:
    if not user.is_admin:
        raise Forbidden("Only organisers (admin accounts) can do this.")
    return user


AdminUser = Annotated[Principal, Depends(admin_user)]

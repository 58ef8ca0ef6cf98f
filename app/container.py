"""The clients and services built once per process in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.concerts.cache import ConcertCache
from app.platform.redis import RedisClient
from app.settings import Settings
from app.storage.ports import Store


@dataclass(slots=True)
class Container:
    settings: Settings
    redis: RedisClient
    store: Store
    tokens: TokenService
    passwords: PasswordHasher
    concerts: ConcertCache

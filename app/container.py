"""The clients and services built once per process in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.passwords import PasswordHasher
from app.auth.tokens import TokenService
from app.concerts.cache import ConcertCache
from app.platform.idempotency import Idempotency
from app.platform.redis import RedisClient
from app.reservations.engine import SeatEngine
from app.seats.seatmap import SeatMapCache
from app.seats.state import SeatState
from app.seats.stream import SeatEventHub
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
    engine: SeatEngine
    seat_state: SeatState
    seat_maps: SeatMapCache
    seat_events: SeatEventHub
    idempotency: Idempotency

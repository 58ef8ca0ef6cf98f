"""The clients and services of one process, built once (lifespan or worker) and closed once."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.passwords import PasswordHasher
from app.auth.service import Accounts, Sessions
from app.auth.tokens import TokenService
from app.auth.verification import EmailVerification, VerificationTokens
from app.checkout.service import Checkout
from app.checkout.tickets import TicketSigner
from app.checkout.transfer import TicketTransfers
from app.concerts.cache import ConcertCache
from app.concerts.service import Concerts
from app.door.service import DoorCheckIn
from app.events.publisher import EventPublisher
from app.payments.factory import build_gateway
from app.payments.guarded import GuardedGateway
from app.platform.breakers import Breakers
from app.platform.idempotency import Idempotency
from app.platform.redis import RedisClient, build_redis
from app.platform.redis_lane import RedisLane
from app.seats.engine import SeatEngine
from app.seats.seatmap import SeatMapCache
from app.seats.service import Seats
from app.seats.state import SeatState
from app.seats.stream import SeatEventHub, StreamSlots
from app.settings import Settings
from app.storage.factory import build_store
from app.storage.guarded import guard_store
from app.storage.ports import Store
from app.waiting_room.challenge import Challenges
from app.waiting_room.engine import QueueEngine
from app.waiting_room.lottery import LotteryEngine, LotteryService
from app.waiting_room.passes import PassSigner
from app.waiting_room.service import WaitingRoom


@dataclass(slots=True)
class Container:
    settings: Settings
    redis: RedisClient
    store: Store
    tokens: TokenService
    passwords: PasswordHasher
    accounts: Accounts
    sessions: Sessions
    verification: EmailVerification  # email verification links (app/auth/verification.py)
    concerts: ConcertCache
    catalogue: Concerts  # the concerts service (`concerts` is their metadata cache)
    engine: SeatEngine
    seat_state: SeatState
    seat_maps: SeatMapCache
    seat_events: SeatEventHub
    seats: Seats
    idempotency: Idempotency
    events: EventPublisher
    breakers: Breakers
    gateway: GuardedGateway
    checkout: Checkout
    waiting_room: WaitingRoom
    challenges: Challenges  # the waiting room's proof-of-work gate (waiting_room/challenge.py)
    door: DoorCheckIn
    transfers: TicketTransfers
    lane: RedisLane | None = None  # the hot path's batches' connection (redis_lane.py)

    async def close(self) -> None:
        await self.events.drain()  # appends in flight finish before their client closes
        await self.seat_events.close()
        await self.gateway.close()
        if self.lane is not None:
            await self.lane.aclose()
        await self.redis.aclose()
        await self.store.close()


def build_container(settings: Settings) -> Container:
    """Clients are created here, not connected: the first use (or `store.initialize()`) does."""
    breakers = Breakers(
        threshold=settings.breaker_failure_threshold, reset_seconds=settings.breaker_reset_seconds
    )
    store = guard_store(build_store(settings), breakers, settings.store_timeout_seconds)
    redis = build_redis(
        settings.redis_url,
        settings.redis_timeout_seconds,
        settings.redis_max_connections,
        cluster=settings.redis_cluster,
        pool_wait=settings.redis_pool_wait_seconds,
    )
    lane = RedisLane.of(redis) if settings.redis_lane_enabled else None
    engine = SeatEngine(redis, lane=lane)
    seat_state = SeatState(engine, store)
    concerts = ConcertCache(settings.concert_cache_ttl_seconds, versions=store.concerts.get_version)
    events = EventPublisher(
        redis,
        settings.events_stream,
        maxlen=settings.events_stream_maxlen,
        enabled=settings.events_enabled,
        lane=lane,
    )
    gateway = GuardedGateway(
        build_gateway(settings, redis), breakers, settings.payment_deadline_seconds
    )
    tokens, passwords = TokenService(settings), PasswordHasher()
    accounts = Accounts(store, passwords)
    verification = EmailVerification(store, VerificationTokens(settings), events)
    seat_maps = SeatMapCache()
    catalogue = Concerts(store, concerts, engine)
    challenges = Challenges(
        redis, settings.challenge_key, ttl_seconds=settings.altcha_challenge_ttl_seconds
    )
    waiting_room = WaitingRoom(
        QueueEngine(redis, lane=lane),
        PassSigner(settings.signing_secret, settings.jwt_issuer),
        pass_ttl_seconds=settings.queue_pass_ttl_seconds,
        poll_budget_per_second=settings.queue_poll_budget_per_second,
        orders=store.orders,
        challenges=challenges,
        lottery=LotteryService(
            LotteryEngine(redis),
            redis,
            settings.signing_secret,
            registrations=store.lottery_registrations,
            pass_ttl_seconds=settings.queue_pass_ttl_seconds,
            events=events,
        ),
    )
    return Container(
        settings=settings,
        redis=redis,
        lane=lane,
        store=store,
        tokens=tokens,
        passwords=passwords,
        accounts=accounts,
        sessions=Sessions(
            store,
            tokens,
            accounts,
            on_signup=verification.request if settings.email_verification_at_signup else None,
        ),
        verification=verification,
        concerts=concerts,
        catalogue=catalogue,
        engine=engine,
        seat_state=seat_state,
        seat_maps=seat_maps,
        seat_events=SeatEventHub(
            redis, settings.sse_coalesce_seconds, slots=StreamSlots.from_settings(settings)
        ),
        seats=Seats(
            catalogue,
            store,
            concerts,
            seat_state,
            seat_maps,
            events,
            waiting_room,
            hold_ttl_seconds=settings.hold_ttl_seconds,
        ),
        idempotency=Idempotency(redis),
        events=events,
        breakers=breakers,
        gateway=gateway,
        checkout=Checkout(
            store,
            concerts,
            seat_state,
            gateway,
            TicketSigner(settings.ticket_signing_secret, settings.jwt_issuer),
            settings.payment_window_seconds,
            events,
            redis,
        ),
        waiting_room=waiting_room,
        challenges=challenges,
        door=DoorCheckIn(
            store,
            catalogue,
            TicketSigner(settings.ticket_signing_secret, settings.jwt_issuer),
        ),
        transfers=TicketTransfers(
            store,
            catalogue,
            seat_state,
            TicketSigner(settings.ticket_signing_secret, settings.jwt_issuer),
            events,
        ),
    )

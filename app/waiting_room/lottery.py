"""Presale registration and an auditable lottery (docs/waiting-room.md, "Presale lottery").

- **Registration.** In a concert's registration window an account registers once: the
  store's record (`LotteryRegistration`, one per (concert, account) by the store's own key)
  is the registration; Redis mirrors it (lua/lottery_register.lua: one hash field per entry)
  for the fast paths. Its entry id is an HMAC of the concert and the user id with a key
  derived from the server's secret: the published entry list names no account.
- **Redis is rebuilt from the store.** A `mirrored` marker says Redis holds every stored
  registration of the concert; without it (a flush, a failover without persistence) the first
  request that needs the entries copies them back from the store (one process at a time), and
  until then answers come from the store. A lost draw (its result and lists) is drawn again
  from the store's entries, which gives the same draw: it is a pure function of the seed and
  the entry ids.
- **The commitment.** The seed is HMAC-SHA256(a key derived from the server's secret,
  "lottery:" + concert id): fixed before anyone registers, needing no storage (it survives a
  Redis loss), and published as its SHA-256 hash from the start. After the draw the seed is
  revealed, so anyone can check it against the hash and recompute the draw.
- **The draw.** Entries ordered by SHA-256(seed + ":" + entry id) (hex) ascending, ties (none
  in practice) by entry id; the first min(winners, entries) win, the rest are the waitlist in
  that order. scripts/verify-lottery.py recomputes it from GET /lottery and the entry list.
- **Once.** The draw job (app/workers/lottery.py) draws after the window closes, from the
  store's entries (first put in Redis); the result is committed by lua/lottery_draw.lua,
  which keeps the first commit and commits only if Redis holds exactly the drawn entries:
  any number of processes computing the same draw commit it once, and only the committer
  announces it (`lottery.drawn`, which mails winners and losers). A registration stored after
  the draw read the entries is refused when it is mirrored after the commit, and taken back.
- **The waiting room.** Registrants who join after the draw get a fixed place: winners in draw
  order ahead of everyone, then the waitlist in order, then everyone else as usual; until the
  winners' window ends only winners are admitted (the admission script's gate).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal

from app.events.publisher import EventPublisher
from app.events.schemas import LotteryDrawn
from app.platform.redis import RedisClient
from app.storage.ports import LotteryRegistrationRepository
from app.storage.records import Concert, LotteryRegistration

log = logging.getLogger(__name__)

PENDING = "lottery:pending"  # concerts with registrations whose draw may still be due
# Places in the queue's line (scores of a zset, exact as doubles): winners' tier, waitlist
# tier; everyone else has places >= 0 (engine.py).
WINNER_BASE = -float(2**41)
WAITLIST_BASE = -float(2**40)
ALGORITHM = (
    "order the entry ids by the lowercase hex SHA-256 of the UTF-8 text "
    "'<seed hex>:<entry id>', ascending (ties by entry id); the first min(winners, entries) "
    "win, the rest form the waitlist in that order"
)

# The draw's lists are staged in batches this big before the commit renames them into place.
STAGE_BATCH = 5_000
STAGE_TTL_MS = 600_000  # a stage left by a process that died is dropped by Redis after this
# Copying a concert's registrations back from the store into Redis: one process at a time
# (the others answer from the store meanwhile); the claim lapses if that process dies.
REBUILD_LOCK_MS = 120_000
FILL_BATCH = 5_000

RegisterOutcome = Literal["created", "existing", "early", "closed"]
MirrorOutcome = Literal["added", "existing", "late"]


def lottery_keys(concert_id: str) -> list[str]:
    tag = "{lot:" + concert_id + "}"
    return [
        f"{tag}:entries",
        f"{tag}:result",
        f"{tag}:order",
        f"{tag}:sorted",
        f"{tag}:ranks",
        f"{tag}:announced",  # set by whichever process announces the draw (lottery.drawn)
        f"{tag}:mirrored",  # set once the entries hash holds every stored registration
        f"{tag}:rebuilding",  # the claim of the process copying them back from the store
    ]


def _derive(secret: str, label: bytes) -> bytes:
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(raw: Any) -> tuple[str, int]:
    """An entries hash value "<user id> <registered at ms>" as (user id, ms)."""
    user, _, at = _text(raw).rpartition(" ")
    return user, int(at)


def draw_key(seed: str, entry_id: str) -> str:
    return hashlib.sha256(f"{seed}:{entry_id}".encode()).hexdigest()


def draw_order(seed: str, entry_ids: Iterable[str]) -> list[str]:
    """The draw: entry ids by SHA-256(seed + ':' + entry id) ascending, ties by entry id."""
    return sorted(entry_ids, key=lambda e: (draw_key(seed, e), e))


def list_digest(entry_ids: Iterable[str]) -> str:
    """SHA-256 of the ids joined by newlines (no trailing one): a list's fingerprint."""
    return hashlib.sha256("\n".join(entry_ids).encode()).hexdigest()


def enter_at(concert: Concert, rank: int) -> datetime:
    """When the winner at `rank` (0-based) is admitted at the earliest: the on-sale plus
    the admissions ahead of them at admit_per_minute."""
    per_minute = concert.queue.admit_per_minute
    return concert.on_sale_at + timedelta(milliseconds=math.floor(rank * 60_000 / per_minute))


@dataclass(frozen=True, slots=True)
class Draw:
    seed: str
    drawn_at: datetime
    entries: int
    winners: int  # drawn: min(configured winners, entries)
    entries_sha256: str
    order_sha256: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "seed": self.seed,
                "drawn_at": self.drawn_at.isoformat(),
                "entries": self.entries,
                "winners": self.winners,
                "entries_sha256": self.entries_sha256,
                "order_sha256": self.order_sha256,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> Draw:
        data = json.loads(raw)
        return cls(
            seed=data["seed"],
            drawn_at=datetime.fromisoformat(data["drawn_at"]),
            entries=int(data["entries"]),
            winners=int(data["winners"]),
            entries_sha256=data["entries_sha256"],
            order_sha256=data["order_sha256"],
        )


def _compute(seed: str, entries: list[str], winners: int) -> tuple[Draw, list[str]]:
    """The draw of `entries` (and its order), before it is committed."""
    order = draw_order(seed, entries)
    draw = Draw(
        seed=seed,
        drawn_at=datetime.now(UTC),
        entries=len(order),
        winners=min(winners, len(order)),
        entries_sha256=list_digest(sorted(entries)),
        order_sha256=list_digest(order),
    )
    return draw, order


@dataclass(frozen=True, slots=True)
class Registration:
    entry_id: str
    registered_at: datetime
    outcome: RegisterOutcome = "existing"


@dataclass(frozen=True, slots=True)
class Standing:
    """A registrant after the draw: rank is the 0-based place in the draw order."""

    registration: Registration
    rank: int | None  # None: not drawn yet


class LotteryEngine:
    """The lottery's Redis side."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        folder = resources.files("app.waiting_room").joinpath("lua")
        self._register = redis.register_script(folder.joinpath("lottery_register.lua").read_text())
        self._commit = redis.register_script(folder.joinpath("lottery_draw.lua").read_text())

    async def mirror(
        self, concert_id: str, entry_id: str, user_id: str, at_ms: int
    ) -> tuple[MirrorOutcome, int]:
        """Copy one stored registration into the entries hash (lua/lottery_register.lua)."""
        keys = lottery_keys(concert_id)
        outcome, count = await self._register(keys=keys[:2], args=[entry_id, user_id, at_ms])
        kind = _text(outcome)
        assert kind in ("added", "existing", "late"), kind
        return kind, int(count)  # type: ignore[return-value]

    async def entry(self, concert_id: str, entry_id: str) -> tuple[str, int] | None:
        raw = await self._redis.hget(lottery_keys(concert_id)[0], entry_id)
        return None if raw is None else _entry(raw)

    async def lookup(self, concert_id: str, entry_id: str) -> tuple[tuple[str, int] | None, bool]:
        """The entry (user id, registered at ms) if Redis has it, and whether Redis holds
        every stored registration of the concert (the `mirrored` marker): one round trip."""
        keys = lottery_keys(concert_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(keys[0], entry_id)
        pipe.exists(keys[6])
        raw, mirrored = await pipe.execute()
        return (None if raw is None else _entry(raw)), bool(mirrored)

    async def count(self, concert_id: str) -> int:
        return int(await self._redis.hlen(lottery_keys(concert_id)[0]))

    async def mirrored_count(self, concert_id: str) -> int | None:
        """The number of entries if Redis holds every stored registration, else None."""
        keys = lottery_keys(concert_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(keys[6])
        pipe.hlen(keys[0])
        mirrored, count = await pipe.execute()
        return int(count) if mirrored else None

    async def claim_rebuild(self, concert_id: str) -> str | None:
        """Claim the copy from the store (one process at a time): a token, or None."""
        token = secrets.token_hex(8)
        key = lottery_keys(concert_id)[7]
        claimed = await self._redis.set(key, token, nx=True, px=REBUILD_LOCK_MS)
        return token if claimed else None

    async def release_rebuild(self, concert_id: str, token: str) -> None:
        key = lottery_keys(concert_id)[7]
        if _text(await self._redis.get(key) or "") == token:
            await self._redis.delete(key)

    async def fill(self, concert_id: str, registrations: list[LotteryRegistration]) -> None:
        """Put every given (stored) registration in the entries hash (HSETNX, in batches:
        entries there stay as they are), then mark the hash as holding them all."""
        keys = lottery_keys(concert_id)
        for start in range(0, len(registrations), FILL_BATCH):
            pipe = self._redis.pipeline(transaction=False)
            for reg in registrations[start : start + FILL_BATCH]:
                pipe.hsetnx(keys[0], reg.entry_id, f"{reg.user_id} {_ms(reg.registered_at)}")
            await pipe.execute()
        await self._redis.set(keys[6], "1")

    async def entries(self, concert_id: str) -> dict[str, str]:
        """Entry id -> user id, every entry."""
        raw = await self._redis.hgetall(lottery_keys(concert_id)[0])
        return {_text(k): _text(v).rpartition(" ")[0] for k, v in raw.items()}

    async def entry_ids(self, concert_id: str) -> list[str]:
        return [_text(k) for k in await self._redis.hkeys(lottery_keys(concert_id)[0])]

    async def result(self, concert_id: str) -> str | None:
        raw = await self._redis.get(lottery_keys(concert_id)[1])
        return None if raw is None else _text(raw)

    async def commit(
        self, concert_id: str, result: str, closes_ms: int, order: list[str]
    ) -> tuple[str, str]:
        """Stage the draw's lists under keys of this call's own (in batches of STAGE_BATCH,
        each a short command, expiring if this process dies), then commit them with one
        script that renames them into place, or drops them if another commit came first."""
        keys = lottery_keys(concert_id)
        existing = await self.result(concert_id)
        if existing is not None:
            return "drawn", existing
        tag = "{lot:" + concert_id + "}"
        token = secrets.token_hex(8)
        staged = [f"{tag}:stage:{token}:{name}" for name in ("order", "sorted", "ranks")]
        ascending = sorted(order)
        for start in range(0, len(order), STAGE_BATCH):
            batch = order[start : start + STAGE_BATCH]
            pipe = self._redis.pipeline(transaction=False)
            pipe.rpush(staged[0], *batch)
            pipe.rpush(staged[1], *ascending[start : start + STAGE_BATCH])
            pipe.hset(staged[2], mapping={e: start + i for i, e in enumerate(batch)})
            for key in staged:
                pipe.pexpire(key, STAGE_TTL_MS)
            await pipe.execute()
        outcome, raw = await self._commit(
            keys=[*keys[:5], *staged], args=[result, closes_ms, len(order)]
        )
        return _text(outcome), _text(raw)

    async def rank(self, concert_id: str, entry_id: str) -> int | None:
        raw = await self._redis.hget(lottery_keys(concert_id)[4], entry_id)
        return None if raw is None else int(raw)

    async def page(
        self, concert_id: str, which: Literal["sorted", "order"], start: int, n: int
    ) -> list[str]:
        key = lottery_keys(concert_id)[3 if which == "sorted" else 2]
        return [_text(v) for v in await self._redis.lrange(key, start, start + n - 1)]

    async def ranked_user_ids(self, concert_id: str, start: int, n: int) -> list[tuple[int, str]]:
        """(rank, user id) of the draw order's entries from `start`, at most `n`."""
        ids = await self.page(concert_id, "order", start, n)
        if not ids:
            return []
        users = await self._redis.hmget(lottery_keys(concert_id)[0], ids)
        return [
            (start + i, _text(raw).rpartition(" ")[0])
            for i, raw in enumerate(users)
            if raw is not None
        ]


class LotteryService:
    def __init__(
        self,
        engine: LotteryEngine,
        redis: RedisClient,
        secret: str,
        *,
        registrations: LotteryRegistrationRepository,
        pass_ttl_seconds: int,
        events: EventPublisher | None = None,
    ) -> None:
        self.engine = engine
        self._redis = redis
        # The durable registrations: the truth the draw is computed from and Redis is
        # rebuilt from.
        self._registrations = registrations
        # Where the draw is announced (lottery.drawn: the mails), by whichever process first
        # sees it committed; None: not announced (tests of the draw alone).
        self._events = events
        self._seed_key = _derive(secret, b"encore lottery seed v1")
        self._entry_key = _derive(secret, b"encore lottery entry v1")
        self._pass_ttl = timedelta(seconds=pass_ttl_seconds)
        # Committed draws never change: each process keeps those it has read.
        self._draws: dict[str, Draw] = {}

    # The commitment ---------------------------------------------------------------------

    def seed(self, concert_id: str) -> str:
        return hmac.new(
            self._seed_key, f"lottery:{concert_id}".encode(), hashlib.sha256
        ).hexdigest()

    def seed_sha256(self, concert_id: str) -> str:
        return hashlib.sha256(self.seed(concert_id).encode()).hexdigest()

    def entry_id(self, concert_id: str, user_id: str) -> str:
        mac = hmac.new(self._entry_key, f"{concert_id}:{user_id}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    # Registration -------------------------------------------------------------------------

    async def register(
        self, concert: Concert, user_id: str
    ) -> tuple[RegisterOutcome, Registration]:
        """Register the account: in the window (by this server's clock) and before the draw,
        the store's conditional insert is the registration (exactly once per account), then
        Redis mirrors it. 'early' / 'closed' write nothing."""
        q = concert.queue
        assert q.registration_opens_at is not None
        assert q.registration_closes_at is not None
        entry = self.entry_id(concert.id, user_id)
        now = _at(_ms(datetime.now(UTC)))  # milliseconds, as Redis keeps it
        if now < q.registration_opens_at:
            return "early", Registration(entry, now, "early")
        if now >= q.registration_closes_at or await self.engine.result(concert.id) is not None:
            return "closed", Registration(entry, now, "closed")
        record = LotteryRegistration(concert.id, user_id, entry, now)
        created = await self._registrations.register(record)
        if not created:
            stored = await self._registrations.get(concert.id, user_id)
            if stored is None:  # taken back (too late for the draw) meanwhile
                return "closed", Registration(entry, now, "closed")
            record = stored
        if not await self._mirror(concert, record):
            return "closed", Registration(entry, now, "closed")
        outcome: RegisterOutcome = "created" if created else "existing"
        return outcome, Registration(entry, _at(_ms(record.registered_at)), outcome)

    async def _mirror(self, concert: Concert, record: LotteryRegistration) -> bool:
        """Copy a stored registration into Redis. False if the draw was committed without it
        (it was stored after the draw read the entries): then the stored record is taken
        back, so that the store keeps exactly the drawn entries. (Nobody was told it is
        registered: that answer comes only after it is mirrored.)"""
        outcome, _ = await self.engine.mirror(
            concert.id, record.entry_id, record.user_id, _ms(record.registered_at)
        )
        if outcome == "late":
            await self._registrations.withdraw(concert.id, record.user_id)
            log.info(
                "lottery registration too late for the draw: taken back",
                extra={"concert_id": concert.id},
            )
            return False
        if outcome == "added":
            await self._redis.sadd(PENDING, concert.id)  # the draw job looks at it
        return True

    async def standing(self, concert: Concert, user_id: str) -> tuple[Standing, Draw | None] | None:
        entry = self.entry_id(concert.id, user_id)
        found, mirrored = await self.engine.lookup(concert.id, entry)
        if found is None:
            # Redis may have lost it (or its mirroring failed after the store's write): the
            # store knows.
            stored = await self._registrations.get(concert.id, user_id)
            if stored is None:
                return None
            if not mirrored:
                await self.rebuild(concert)
            if not await self._mirror(concert, stored):
                return None  # stored after the draw read the entries: not in it
            found = (user_id, _ms(stored.registered_at))
        registration = Registration(entry, _at(found[1]))
        draw = await self.current(concert)
        rank = None if draw is None else await self.engine.rank(concert.id, entry)
        return Standing(registration, rank), draw

    async def count(self, concert: Concert) -> int:
        """Registrations so far: Redis's count while it holds them all, else (after a loss)
        copied back from the store first, or the store's count while another process
        copies."""
        count = await self.engine.mirrored_count(concert.id)
        if count is not None:
            return count
        if await self.rebuild(concert):
            return await self.engine.count(concert.id)
        return await self._registrations.count(concert.id)

    async def rebuild(self, concert: Concert) -> bool:
        """Copy the concert's stored registrations into Redis (after a Redis loss), one
        process at a time; whether this call did. Entries mirrored meanwhile stay (the copy
        only adds what is missing), so concurrent registrations and copies are safe."""
        token = await self.engine.claim_rebuild(concert.id)
        if token is None:
            return False
        try:
            stored = await self._registrations.list_for_concert(concert.id)
            await self.engine.fill(concert.id, stored)
            if stored and await self.engine.result(concert.id) is None:
                await self._redis.sadd(PENDING, concert.id)  # the draw job looks at it
            log.info(
                "lottery entries copied back to Redis from the store",
                extra={"concert_id": concert.id, "entries": len(stored)},
            )
        finally:
            await self.engine.release_rebuild(concert.id, token)
        return True

    # The draw -----------------------------------------------------------------------------

    def _due(self, concert: Concert) -> bool:
        closes = concert.queue.registration_closes_at
        return closes is not None and datetime.now(UTC) >= closes

    async def drawn(self, concert: Concert, *, draw_if_due: bool = True) -> Draw | None:
        """The committed draw, or None before it; past the window it is drawn now if no job
        has yet (any process may: the commit keeps the first). A draw this process has seen
        is answered from memory (the admission gate asks on every step); `current` checks
        that Redis still holds it."""
        cached = self._draws.get(concert.id)
        if cached is not None:
            return cached
        raw = await self.engine.result(concert.id)
        if raw is not None:
            draw = Draw.from_json(raw)
            await self._known(concert, draw)
            return draw
        if draw_if_due and self._due(concert):
            return (await self.draw(concert))[1]
        return None

    async def current(self, concert: Concert) -> Draw | None:
        """The committed draw as Redis holds it now (with its order and ranks): if Redis lost
        it, it is drawn again from the store's entries (the same draw); None before it."""
        raw = await self.engine.result(concert.id)
        if raw is not None:
            draw = Draw.from_json(raw)
            await self._known(concert, draw)
            return self._draws.get(concert.id, draw)
        if self._due(concert):
            return (await self.draw(concert))[1]
        return None

    async def draw(self, concert: Concert) -> tuple[bool, Draw | None]:
        """Draw if due: (True, the draw) if this call committed it, (False, the draw) if it
        was drawn already, (False, None) if registration is still open. The entries are the
        store's; Redis gets any it lacks before the commit, which checks that it holds
        exactly those."""
        closes = concert.queue.registration_closes_at
        if concert.queue.mode != "lottery" or closes is None or not self._due(concert):
            return False, None
        for _ in range(5):
            raw = await self.engine.result(concert.id)
            if raw is not None:
                result = Draw.from_json(raw)
                await self._known(concert, result)
                return False, result
            stored = await self._registrations.list_for_concert(concert.id)
            # Redis only ever holds stored entries: as many as the store means the same set.
            if await self.engine.mirrored_count(concert.id) != len(stored):
                await self.engine.fill(concert.id, stored)
            entries = [r.entry_id for r in stored]
            # One SHA-256 per entry: seconds for a million, so off the event loop (a request
            # may be the one drawing).
            draw, order = await asyncio.to_thread(
                _compute, self.seed(concert.id), entries, concert.queue.winners
            )
            outcome, raw = await self.engine.commit(concert.id, draw.to_json(), _ms(closes), order)
            if outcome == "early":
                return False, None
            if outcome == "changed":
                continue  # a registration was stored and mirrored meanwhile: read again
            result = Draw.from_json(raw)
            await self._known(concert, result)
            if outcome == "committed":
                log.info(
                    "lottery drawn",
                    extra={
                        "concert_id": concert.id,
                        "entries": result.entries,
                        "winners": result.winners,
                    },
                )
            return outcome == "committed", result
        raise RuntimeError("the lottery's entries kept changing after registration closed")

    # The waiting room ---------------------------------------------------------------------

    def enter_at(self, concert: Concert, rank: int) -> datetime:
        return enter_at(concert, rank)

    def window_ends(self, concert: Concert, draw: Draw) -> datetime:
        """The winners' window: until every winner could have been admitted at
        admit_per_minute, plus one pass lifetime for the last of them to shop."""
        per_minute = concert.queue.admit_per_minute
        spread = timedelta(milliseconds=math.ceil(draw.winners * 60_000 / per_minute))
        return concert.on_sale_at + spread + self._pass_ttl

    async def place(self, concert: Concert, user_id: str) -> float | None:
        """A registrant's fixed place in the queue's line (winners, then the waitlist), or
        None for anyone else (the usual place). The draw must be done."""
        draw = await self.current(concert)  # drawn again if Redis lost it
        rank = await self.engine.rank(concert.id, self.entry_id(concert.id, user_id))
        if rank is None or draw is None:
            return None
        if rank < draw.winners:
            return WINNER_BASE + rank
        return WAITLIST_BASE + (rank - draw.winners)

    async def gate(self, concert: Concert) -> tuple[int, float]:
        """The admission gate (engine.admit): until the winners' window ends only the winners'
        tier; before the draw nobody."""
        draw = await self.drawn(concert)
        if draw is None:
            far = concert.starts_at + timedelta(days=1)
            return _ms(far), -math.inf
        return _ms(self.window_ends(concert, draw)), WAITLIST_BASE

    def announcement(self, concert: Concert, draw: Draw) -> LotteryDrawn:
        return LotteryDrawn(
            concert_id=concert.id,
            entries=draw.entries,
            winners=draw.winners,
            window_ends_at=self.window_ends(concert, draw),
        )

    async def _known(self, concert: Concert, draw: Draw) -> None:
        """This process has seen the committed draw: keep it, and announce it unless another
        process did (one SET NX per concert and process; a failed publish releases the claim
        for a later try). Whoever draws or reads the draw first announces it, so the mails go
        out even if the `lottery:pending` set was lost."""
        if concert.id in self._draws:
            return
        if self._events is not None and self._events.enabled:
            key = lottery_keys(concert.id)[5]
            claimed = await self._redis.set(key, "1", nx=True)
            if claimed and not await self._events.publish(self.announcement(concert, draw)):
                await self._redis.delete(key)
                return  # not cached: the next look tries again
        self._draws[concert.id] = draw

    async def due(self) -> list[str]:
        return sorted(_text(m) for m in await self._redis.smembers(PENDING))

    async def settled(self, concert_id: str) -> None:
        await self._redis.srem(PENDING, concert_id)

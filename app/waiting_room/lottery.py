"""Presale registration and an auditable lottery (docs/waiting-room.md, "Presale lottery").

- **Registration.** In a concert's registration window an account registers once
  (lua/lottery_register.lua: one hash field per entry, the window judged by Redis's clock).
  Its entry id is an HMAC of the concert and the user id with a key derived from the server's
  secret: the published entry list names no account.
- **The commitment.** The seed is HMAC-SHA256(a key derived from the server's secret,
  "lottery:" + concert id): fixed before anyone registers, needing no storage (it survives a
  Redis loss), and published as its SHA-256 hash from the start. After the draw the seed is
  revealed, so anyone can check it against the hash and recompute the draw.
- **The draw.** Entries ordered by SHA-256(seed + ":" + entry id) (hex) ascending, ties (none
  in practice) by entry id; the first min(winners, entries) win, the rest are the waitlist in
  that order. scripts/verify-lottery.py recomputes it from GET /lottery and the entry list.
- **Once.** The draw job (app/workers/lottery.py) draws after the window closes; the result
  is committed by lua/lottery_draw.lua, which keeps the first commit: any number of processes
  computing the same draw commit it once, and only the committer announces it
  (`lottery.drawn`, which mails winners and losers).
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
from app.storage.records import Concert

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

RegisterOutcome = Literal["created", "existing", "early", "closed"]


def lottery_keys(concert_id: str) -> list[str]:
    tag = "{lot:" + concert_id + "}"
    return [
        f"{tag}:entries",
        f"{tag}:result",
        f"{tag}:order",
        f"{tag}:sorted",
        f"{tag}:ranks",
        f"{tag}:announced",  # set by whichever process announces the draw (lottery.drawn)
    ]


def _derive(secret: str, label: bytes) -> bytes:
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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

    async def register(
        self, concert_id: str, entry_id: str, user_id: str, opens_ms: int, closes_ms: int
    ) -> tuple[RegisterOutcome, int, int]:
        keys = lottery_keys(concert_id)
        outcome, at, count = await self._register(
            keys=keys[:2], args=[entry_id, user_id, opens_ms, closes_ms]
        )
        kind = _text(outcome)
        assert kind in ("created", "existing", "early", "closed"), kind
        return kind, int(at), int(count)  # type: ignore[return-value]

    async def entry(self, concert_id: str, entry_id: str) -> tuple[str, int] | None:
        raw = await self._redis.hget(lottery_keys(concert_id)[0], entry_id)
        if raw is None:
            return None
        user, _, at = _text(raw).rpartition(" ")
        return user, int(at)

    async def count(self, concert_id: str) -> int:
        return int(await self._redis.hlen(lottery_keys(concert_id)[0]))

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
        pass_ttl_seconds: int,
        events: EventPublisher | None = None,
    ) -> None:
        self.engine = engine
        self._redis = redis
        # Where the draw is announced (lottery.drawn: the mails), by whichever process first
        # sees it committed; None: not announced (tests of the draw alone).
        self._events = events
        self._seed_key = _derive(secret, b"encore lottery seed v1")
        self._entry_key = _derive(secret, b"encore lottery entry v1")
        self._pass_ttl = timedelta(seconds=pass_ttl_seconds)
        # Committed draws never change: each process keeps those it has read.
        self._draws: dict[str, Draw] = {}
        self._pending: set[str] = set()  # concerts this process put in PENDING

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
        q = concert.queue
        assert q.registration_opens_at is not None
        assert q.registration_closes_at is not None
        entry = self.entry_id(concert.id, user_id)
        outcome, at, _ = await self.engine.register(
            concert.id, entry, user_id, _ms(q.registration_opens_at), _ms(q.registration_closes_at)
        )
        if outcome == "created" and concert.id not in self._pending:
            await self._redis.sadd(PENDING, concert.id)
            self._pending.add(concert.id)
        return outcome, Registration(entry, _at(at), outcome)

    async def standing(self, concert: Concert, user_id: str) -> tuple[Standing, Draw | None] | None:
        entry = self.entry_id(concert.id, user_id)
        found = await self.engine.entry(concert.id, entry)
        if found is None:
            return None
        registration = Registration(entry, _at(found[1]))
        draw = await self.drawn(concert)
        rank = None if draw is None else await self.engine.rank(concert.id, entry)
        return Standing(registration, rank), draw

    # The draw -----------------------------------------------------------------------------

    async def drawn(self, concert: Concert, *, draw_if_due: bool = True) -> Draw | None:
        """The committed draw, or None before it; past the window it is drawn now if no job
        has yet (any process may: the commit keeps the first)."""
        cached = self._draws.get(concert.id)
        if cached is not None:
            return cached
        raw = await self.engine.result(concert.id)
        if raw is not None:
            draw = Draw.from_json(raw)
            await self._known(concert, draw)
            return draw
        closes = concert.queue.registration_closes_at
        if draw_if_due and closes is not None and datetime.now(UTC) >= closes:
            return (await self.draw(concert))[1]
        return None

    async def draw(self, concert: Concert) -> tuple[bool, Draw | None]:
        """Draw if due: (True, the draw) if this call committed it, (False, the draw) if it
        was drawn already, (False, None) if registration is still open."""
        closes = concert.queue.registration_closes_at
        if concert.queue.mode != "lottery" or closes is None:
            return False, None
        for _ in range(5):
            entries = await self.engine.entry_ids(concert.id)
            # One SHA-256 per entry: seconds for a million, so off the event loop (a request
            # may be the one drawing).
            draw, order = await asyncio.to_thread(
                _compute, self.seed(concert.id), entries, concert.queue.winners
            )
            outcome, raw = await self.engine.commit(concert.id, draw.to_json(), _ms(closes), order)
            if outcome == "early":
                return False, None
            if outcome == "changed":
                continue  # a registration landed between the read and the window's end
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
        rank = await self.engine.rank(concert.id, self.entry_id(concert.id, user_id))
        draw = self._draws.get(concert.id)
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

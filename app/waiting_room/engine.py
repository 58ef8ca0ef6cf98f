"""The waiting room's Redis side: join, status, admit and leave, each one atomic Lua script."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast, get_args

from app.platform.redis import RedisClient
from app.platform.redis_lane import RedisLane

ACTIVE_QUEUES = "queues:active"  # concert ids whose queue has had a joiner: the admission loop
# How often one process puts a queue it serves joins for back in the registry, even when the
# join did not create the queue's state: the registry may live on another node than the queue
# (a cluster), and that node alone may lose it.
REGISTRY_REFRESH_SECONDS = 10.0
_SCRIPTS = ("join", "status", "admit", "leave", "stats", "check", "forfeit")

# What check.lua says of a pass's holder (see there).
PassCheck = Literal["active", "restored", "lost", "freed", "inactive", "expired"]
_CHECKS = frozenset(get_args(PassCheck))


def queue_keys(concert_id: str) -> list[str]:
    tag = "{q:" + concert_id + "}"
    return [f"{tag}:line", f"{tag}:admitted", f"{tag}:meta", f"{tag}:freed"]


def new_epoch() -> str:
    """An id for a queue's state, offered to every script that may create the state: a state
    rebuilt after a loss gets a new one, so passes issued before the loss are recognised."""
    return secrets.token_hex(8)


def _read_lua(name: str) -> str:
    return resources.files("app.waiting_room").joinpath("lua", name).read_text()


def presale_draw() -> str:
    """A place in [0, 1) from the OS's random source: unpredictable, so no one can time a join
    to get ahead, and uniform, so the places of pre-sale joiners form a random order."""
    return repr(secrets.randbits(52) / (1 << 52))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _position(reply: list[Any]) -> Position:
    state, value, depth, active, rate, epoch = reply[:6]
    kind = _text(state)
    counts = (int(depth), int(active), float(rate), _text(epoch))
    if kind == "admitted":
        return Position("admitted", -1, int(value), *counts)
    if kind == "waiting":
        return Position("waiting", int(value), 0, *counts)
    return Position("none", -1, 0, *counts)


@dataclass(frozen=True, slots=True)
class Position:
    state: Literal["waiting", "admitted", "none"]
    rank: int  # 0-based place in line while waiting, else -1
    pass_expires_ms: int  # while admitted, else 0
    depth: int = 0  # people waiting
    active: int = 0  # admitted shoppers with a live pass
    measured_per_minute: float = 0.0
    epoch: str = ""  # the queue state's id, for the pass ('' while the state has none)
    below: int = 0  # people waiting below a place the status asked about (a lottery's winners)


@dataclass(frozen=True, slots=True)
class QueueStats:
    waiting: int
    active: int
    admitted_total: int
    measured_per_minute: float


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: dict[str, int]  # user id -> pass expiry (ms)
    depth: int
    active: int


class QueueEngine:
    def __init__(
        self, redis: RedisClient, *, registry: str = ACTIVE_QUEUES, lane: RedisLane | None = None
    ) -> None:
        self._redis = redis
        # The hot path's connection (app/platform/redis_lane.py), for the pass check on holds.
        self._lane = lane
        self._registry = registry  # the set of queues the admission loop visits
        # Queue -> when this process last put it in the registry (time.monotonic()).
        self._registered: dict[str, float] = {}
        lib = _read_lua("_lib.lua")
        self._scripts = {
            name: redis.register_script(lib + "\n" + _read_lua(f"{name}.lua")) for name in _SCRIPTS
        }

    @property
    def registry(self) -> str:
        """The set of queues the admission loop visits."""
        return self._registry

    async def _call(self, name: str, concert_id: str, *args: str | int | float) -> list[Any]:
        result = await self._scripts[name](keys=queue_keys(concert_id), args=list(args))
        return list(result)

    async def join(
        self, concert_id: str, user_id: str, on_sale_ms: int, place: float | None = None
    ) -> Position:
        """`place`: a fixed place in line (a lottery's registrant, see lottery.py), else the
        usual one (drawn before the on-sale, first come first served after)."""
        fixed = "" if place is None else repr(place)
        reply = await self._call(
            "join", concert_id, user_id, on_sale_ms, presale_draw(), new_epoch(), fixed
        )
        # The first join of a state (a new queue, or one whose state Redis lost) registers the
        # queue at once; others every REGISTRY_REFRESH_SECONDS, in case the registry was lost.
        await self._register(concert_id, force=bool(int(reply[6])))
        return _position(reply)

    async def _register(self, concert_id: str, *, force: bool) -> None:
        now = time.monotonic()
        last = self._registered.get(concert_id)
        if force or last is None or now - last > REGISTRY_REFRESH_SECONDS:
            self._registered[concert_id] = now
            await self._redis.sadd(self._registry, concert_id)

    async def status(
        self, concert_id: str, user_id: str, *, below: float | None = None
    ) -> Position:
        """`below`: also count the people waiting at places below it (`Position.below`)."""
        if below is None:
            return _position(await self._call("status", concert_id, user_id))
        reply = await self._call("status", concert_id, user_id, repr(below))
        return dataclasses.replace(_position(reply), below=int(reply[6]))

    async def admit(
        self,
        concert_id: str,
        *,
        on_sale_ms: int,
        per_minute: int,
        max_active: int,
        pass_ttl_ms: int,
        burst_seconds: float = 2.0,
        gate_until_ms: int = 0,
        gate_below: float = 0.0,
    ) -> Admission:
        """`gate_until_ms`/`gate_below`: until then (Redis's clock) only places below
        `gate_below` are admitted (a lottery's winners' window; -inf admits nobody)."""
        out = await self._call(
            "admit",
            concert_id,
            on_sale_ms,
            per_minute,
            max_active,
            pass_ttl_ms,
            burst_seconds,
            new_epoch(),
            gate_until_ms,
            repr(gate_below),
        )
        pairs = out[3:]
        admitted = {_text(pairs[i]): int(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return Admission(admitted=admitted, depth=int(out[1]), active=int(out[2]))

    async def stats(self, concert_id: str) -> QueueStats:
        waiting, active, total, rate = await self._call("stats", concert_id)
        return QueueStats(int(waiting), int(active), int(total), float(rate))

    async def leave(self, concert_id: str, user_id: str) -> bool:
        return bool(int(await self._scripts["leave"](keys=queue_keys(concert_id), args=[user_id])))

    async def check(
        self, concert_id: str, user_id: str, *, epoch: str, expires_ms: int, restore: bool = True
    ) -> PassCheck:
        """Whether the holder of a (genuine) pass may still shop: one script, one round trip.
        A pass from a lost state is restored, or with `restore=False` answers "lost"."""
        keys = queue_keys(concert_id)
        flag = "1" if restore else "0"
        args: list[str | int] = [user_id, epoch, expires_ms, new_epoch(), flag]
        script = self._scripts["check"]
        if self._lane is not None:
            [reply] = await self._lane.scripts([(script, keys, args)])
            if isinstance(reply, Exception):
                raise reply
        else:
            reply = await script(keys=keys, args=args)
        outcome = _text(reply)
        assert outcome in _CHECKS, outcome
        return cast(PassCheck, outcome)

    async def forfeit(self, concert_id: str, user_id: str, expires_ms: int) -> None:
        """Refuse this holder's pass from now on until `expires_ms`: its slot was used."""
        await self._scripts["forfeit"](keys=queue_keys(concert_id), args=[user_id, expires_ms])

    async def active_queues(self) -> list[str]:
        members = await self._redis.smembers(self._registry)
        return sorted(_text(m) for m in members)

    async def rediscover(self, concert_ids: Iterable[str]) -> list[str]:
        """Put back in the registry those of `concert_ids` that people are waiting in but the
        registry has lost; answers them."""
        known = set(await self.active_queues())
        found = []
        for concert_id in concert_ids:
            if concert_id not in known and await self._redis.zcard(queue_keys(concert_id)[0]):
                await self._redis.sadd(self._registry, concert_id)
                found.append(concert_id)
        return found

    async def forget(self, concert_id: str) -> None:
        """Stop visiting a queue (its concert is over); its keys are deleted too."""
        await self._redis.delete(*queue_keys(concert_id))
        await self._redis.srem(self._registry, concert_id)
        self._registered.pop(concert_id, None)

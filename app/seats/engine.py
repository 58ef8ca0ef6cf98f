"""Typed calls into the seat engine's Lua scripts (lua/*.lua, each with a contract header).

Every key of one concert carries the hash tag `{c:<id>}`, so each script touches one slot
and runs unchanged on Redis Cluster. Scripts are registered once per client; redis-py sends
EVALSHA and falls back to EVAL if the server lost its script cache.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from app.platform.batching import GroupCommit
from app.platform.redis import RedisClient
from app.platform.redis_lane import RedisLane

ACTIVE_CONCERTS_KEY = "encore:active-concerts"
# How often one process re-registers a concert with live holds for the sweeper; the sweeper
# only forgets a concert that has no live holds and was not registered for longer than this
# plus a margin, so a registration is never lost (see Sweeper).
ACTIVE_REFRESH_SECONDS = 10.0
ACTIVE_FORGET_AFTER_SECONDS = 15.0


class NotLoaded(Exception):
    """The concert's seat state is not in Redis (never warmed, flushed, failed over)."""


def concert_keys(concert_id: str) -> list[str]:
    tag = f"{{c:{concert_id}}}"
    return [f"{tag}:{name}" for name in ("seats", "holds", "exp", "users", "meta", "events")]


def events_channel(concert_id: str) -> str:
    return concert_keys(concert_id)[5]


@dataclass(frozen=True, slots=True)
class Held:
    expires_at_ms: int
    version: int
    indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Taken:
    indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OverCap:
    already: int


@dataclass(frozen=True, slots=True)
class SoldOut:
    pass


HoldOutcome = Held | Taken | OverCap | SoldOut


@dataclass(frozen=True, slots=True)
class CheckedOut:
    """The buyer asked to release a hold that has an order: nothing changed (the order's end
    releases it)."""


@dataclass(frozen=True, slots=True)
class HoldInfo:
    expires_at_ms: int
    indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    seats: str  # one character per seat index: A, H, S or X


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The state is still at the version the caller already has."""

    version: int


@dataclass(frozen=True, slots=True)
class Counts:
    available: int
    held: int
    sold: int


@dataclass(frozen=True, slots=True)
class Expired:
    released: int
    live_holds: int
    # The holds released, by hold id (for the sweeper's seat.released events).
    holds: dict[str, StoredHold] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredHold:
    user_id: str
    expires_at_ms: int
    indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Audit:
    """A concert's seat state and holds, read together for reconciliation. `version` and
    `sells` are the guard that `repair` re-checks before freeing seats the store did not sell."""

    version: int
    sells: int
    seats: str
    holds: dict[str, StoredHold]


@dataclass(frozen=True, slots=True)
class Repaired:
    """What `repair` changed (nothing listed means nothing changed)."""

    version: int
    sold: tuple[int, ...]  # became S
    unsold: tuple[tuple[int, str], ...]  # (index, new state): S without a sale -> A or H
    orphans: tuple[int, ...]  # H without a hold -> A
    released: tuple[str, ...]  # hold ids removed (their order is over)
    deferred: tuple[int, ...]  # S -> A repairs skipped: the state moved since the audit

    @property
    def changed(self) -> bool:
        return bool(self.sold or self.unsold or self.orphans or self.released)


# Holds per HSCAN page of the audit: short enough not to stall Redis (docs/performance.md,
# "Figures moved out of code comments").
_AUDIT_PAGE = 500


def _read_lua(name: str) -> str:
    return resources.files("app.seats").joinpath("lua", name).read_text()


_SCRIPTS = (
    "hold",
    "hold_best",
    "release",
    "extend",
    "sell",
    "unsell",
    "expire",
    "snapshot",
    "hold_get",
    "load",
    "audit",
    "reconcile",
    "receive",
)

_FORGET_LUA = """
-- KEYS[1] active concerts zset; ARGV: concert id, registered-before (ms)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) < tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _sequence(value: Any) -> list[Any]:
    """A JSON array from cjson, which writes an empty Lua table as `{}`."""
    return value if isinstance(value, list) else []


_BATCHED = frozenset({"hold", "hold_best"})


@dataclass(frozen=True, slots=True)
class _ScriptCall:
    name: str
    concert_id: str
    args: tuple[str | int, ...]

    @property
    def keys(self) -> list[str]:
        return concert_keys(self.concert_id)


class SeatEngine:
    def __init__(
        self,
        redis: RedisClient,
        *,
        sweep_limit: int = 200,
        lane: RedisLane | None = None,
    ) -> None:
        self._redis = redis
        self._lane = lane  # the batches' connection, if any (app/platform/redis_lane.py)
        self._sweep_limit = sweep_limit
        lib = _read_lua("_lib.lua")
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(lib + "\n" + _read_lua(f"{name}.lua")) for name in _SCRIPTS
        }
        self._forget = redis.register_script(_FORGET_LUA)
        self._registered: dict[str, float] = {}
        # Holds, the stampede's call, from concurrent requests go out as one pipeline per batch
        # (app/platform/batching.py): each script still runs atomically on its own; the batch
        # only shares the round trip and redis-py's per-command work. Not on a cluster (redis-py
        # cannot pipeline EVALSHA there): one call each.
        self._holds: GroupCommit[_ScriptCall, Any] | None = (
            None if isinstance(redis, RedisCluster) else GroupCommit(self._pipelined)
        )

    async def _call(self, name: str, concert_id: str, *args: str | int) -> list[Any]:
        call = _ScriptCall(name, concert_id, args)
        if self._holds is not None and name in _BATCHED:
            reply = await self._holds.submit(call)
            if isinstance(reply, Exception):
                raise reply
        else:
            reply = await self._direct(call)
        if isinstance(reply, list) and reply and _text(reply[0]) == "NOT_LOADED":
            raise NotLoaded(concert_id)
        assert isinstance(reply, list)
        return reply

    async def _direct(self, call: _ScriptCall) -> Any:
        """One script call on its own (redis-py loads the script if Redis lost it)."""
        return await self._scripts[call.name](keys=call.keys, args=list(call.args))

    async def _pipelined(self, calls: Sequence[_ScriptCall]) -> list[Any]:
        """One batch of script calls: each reply, or the exception that call alone raised."""
        if self._lane is not None:
            return await self._lane.scripts(
                [(self._scripts[c.name], c.keys, c.args) for c in calls]
            )
        if len(calls) == 1:  # alone: a plain call, no pipeline
            return [await self._alone(calls[0])]
        pipe = self._redis.pipeline(transaction=False)
        for call in calls:
            keys = call.keys
            pipe.evalsha(self._scripts[call.name].sha, len(keys), *keys, *call.args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return [await self._loaded(c, r) for c, r in zip(calls, replies, strict=True)]

    async def _loaded(self, call: _ScriptCall, reply: Any) -> Any:
        """`reply`, or after NOSCRIPT (a restarted Redis) the call again on its own."""
        return await self._alone(call) if isinstance(reply, NoScriptError) else reply

    async def _alone(self, call: _ScriptCall) -> Any:
        """A direct call (which loads the script if Redis lost it); an error as its exception."""
        try:
            return await self._direct(call)
        except ResponseError as exc:
            return exc

    async def hold(
        self,
        concert_id: str,
        hold_id: str,
        user_id: str,
        indexes: list[int],
        *,
        cap: int,
        ttl_ms: int,
    ) -> HoldOutcome:
        """Hold exactly these seats, all or nothing, within the buyer's cap."""
        reply = await self._call(
            "hold",
            concert_id,
            hold_id,
            user_id,
            ttl_ms,
            cap,
            self._sweep_limit,
            *indexes,
        )
        status = _text(reply[0])
        if status == "OK":
            await self._register(concert_id)
            return Held(int(reply[1]), int(reply[2]), tuple(indexes))
        if status == "TAKEN":
            return Taken(tuple(int(i) for i in reply[1:]))
        if status == "CAP":
            return OverCap(int(reply[1]))
        raise ValueError(f"hold script refused seat index {_text(reply[1])}")

    async def hold_best(
        self,
        concert_id: str,
        hold_id: str,
        user_id: str,
        quantity: int,
        rows: list[tuple[int, int]],
        *,
        cap: int,
        ttl_ms: int,
    ) -> HoldOutcome:
        row_args = [n for first, length in rows for n in (first, length)]
        reply = await self._call(
            "hold_best",
            concert_id,
            hold_id,
            user_id,
            ttl_ms,
            cap,
            self._sweep_limit,
            quantity,
            *row_args,
        )
        status = _text(reply[0])
        if status == "OK":
            await self._register(concert_id)
            return Held(int(reply[1]), int(reply[2]), tuple(int(i) for i in reply[3:]))
        if status == "CAP":
            return OverCap(int(reply[1]))
        return SoldOut()

    async def release(self, concert_id: str, hold_id: str, user_id: str) -> bool:
        """Release a hold whatever it is (its order ended); False if there was none."""
        released = await self.release_seats(concert_id, hold_id, user_id, force=True)
        return isinstance(released, tuple)

    async def release_seats(
        self, concert_id: str, hold_id: str, user_id: str, *, force: bool = False
    ) -> tuple[int, ...] | CheckedOut | None:
        """Release a hold, answering its seat indexes (None: no such hold). Unless `force`,
        a checked-out hold (see `extend`) is left to its order: CheckedOut."""
        reply = await self._call(
            "release", concert_id, hold_id, user_id, self._sweep_limit, "1" if force else "0"
        )
        status = _text(reply[0])
        if status == "CHECKED_OUT":
            return CheckedOut()
        if status != "OK":
            return None
        return tuple(int(i) for i in reply[2:])

    async def extend(
        self,
        concert_id: str,
        hold_id: str,
        user_id: str,
        ttl_ms: int,
        *,
        checked_out: bool = False,
    ) -> HoldInfo | None:
        """Keep a live hold until at least now + `ttl_ms`. `checked_out` marks it as an
        order's: from then on only the order's end releases it (`release`), not the buyer."""
        reply = await self._call(
            "extend",
            concert_id,
            hold_id,
            user_id,
            ttl_ms,
            self._sweep_limit,
            "1" if checked_out else "0",
        )
        if _text(reply[0]) != "OK":
            return None
        await self._register(concert_id)
        return HoldInfo(int(reply[1]), tuple(int(i) for i in reply[2:]))

    async def sell(self, concert_id: str, hold_id: str, user_id: str, indexes: list[int]) -> int:
        """Mark seats sold (after the durable store recorded the sale); returns the version."""
        reply = await self._call("sell", concert_id, hold_id, user_id, self._sweep_limit, *indexes)
        return int(reply[1])

    async def unsell(self, concert_id: str, user_id: str, indexes: list[int]) -> int:
        """Sold seats back on sale (a refunded order); returns the version."""
        reply = await self._call("unsell", concert_id, user_id, self._sweep_limit, *indexes)
        return int(reply[1])

    async def receive(self, concert_id: str, user_id: str, cap: int) -> OverCap | None:
        """Count one transferred ticket toward its receiver's cap, atomically with the check:
        OverCap (with what they already have) if it would pass `cap`."""
        reply = await self._call("receive", concert_id, user_id, cap, 1)
        if _text(reply[0]) == "OVER_CAP":
            return OverCap(already=int(reply[1]))
        return None

    async def unreceive(self, concert_id: str, user_id: str) -> None:
        """Undo one `receive` (the transfer was not recorded after all)."""
        await self._call("receive", concert_id, user_id, 0, -1)

    async def get_hold(self, concert_id: str, hold_id: str, user_id: str) -> HoldInfo | None:
        reply = await self._scripts["hold_get"](
            keys=concert_keys(concert_id), args=[hold_id, user_id]
        )
        if _text(reply[0]) != "OK":
            return None
        return HoldInfo(int(reply[1]), tuple(int(i) for i in reply[2:]))

    async def expire(self, concert_id: str) -> Expired | None:
        """Release due holds (one bounded batch); None if the concert is not loaded."""
        reply = await self._scripts["expire"](
            keys=concert_keys(concert_id), args=[self._sweep_limit]
        )
        if int(reply[0]) < 0:
            return None
        holds: dict[str, StoredHold] = {}
        for hold_id, raw in zip(reply[3::2], reply[4::2], strict=True):
            hold = json.loads(raw)
            holds[_text(hold_id)] = StoredHold(
                user_id=str(hold["u"]),
                expires_at_ms=int(hold["e"]),
                indexes=tuple(int(i) for i in _sequence(hold["s"])),
            )
        return Expired(released=int(reply[0]), live_holds=int(reply[1]), holds=holds)

    async def snapshot(self, concert_id: str) -> Snapshot:
        reply = await self._call("snapshot", concert_id)
        return Snapshot(version=int(reply[0]), seats=_text(reply[1]))

    async def snapshot_since(self, concert_id: str, known_version: int) -> Snapshot | Unchanged:
        """Like `snapshot`, but only the version when it is still `known_version`."""
        reply = await self._call("snapshot", concert_id, known_version)
        if len(reply) == 1:
            return Unchanged(int(reply[0]))
        return Snapshot(version=int(reply[0]), seats=_text(reply[1]))

    async def load(
        self,
        concert_id: str,
        seats: str,
        holds: dict[str, dict[str, Any]],
        users: dict[str, int],
    ) -> bool:
        """Install rebuilt state unless some is already there; True if installed."""
        reply = await self._scripts["load"](
            keys=concert_keys(concert_id),
            args=[seats, json.dumps(holds), json.dumps(users)],
        )
        installed = int(reply[0]) == 1
        if installed:
            # Even without holds: a rebuild means Redis lost the concert's state, and the
            # sweeper's registry with it, while this process still remembers registering the
            # concert (ACTIVE_REFRESH_SECONDS): its next holds would not register it, and they
            # would show as held after they expired (found by tests/model).
            await self._register(concert_id, force=True)
        return installed

    async def counts(self, concert_ids: list[str]) -> dict[str, Counts]:
        """Seat counts of the loaded concerts among these (one round trip per slot)."""
        if not concert_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for concert_id in concert_ids:
            pipe.hmget(concert_keys(concert_id)[4], ["A", "H", "S"])
        replies = await pipe.execute()
        out: dict[str, Counts] = {}
        for concert_id, values in zip(concert_ids, replies, strict=True):
            if values[0] is not None:
                available, held, sold = (int(v or 0) for v in values)
                out[concert_id] = Counts(available, held, sold)
        return out

    async def is_loaded(self, concert_id: str) -> bool:
        return bool(await self._redis.exists(concert_keys(concert_id)[0]))

    async def live_holds(self, concert_id: str) -> int:
        return int(await self._redis.zcard(concert_keys(concert_id)[2]))

    async def audit(self, concert_id: str) -> Audit:
        """The seat state and its guard in one atomic read, then every hold, read in pages
        (NotLoaded if the concert is not loaded).

        The holds are not read with the state in one call: a stadium's tens of thousands of
        holds in one reply would stall Redis for every buyer (docs/performance.md, "Figures
        moved out of code comments"). A hold present from the state read to the end of the scan
        is listed; one created or removed meanwhile may or may not be. Reconciliation only
        proposes repairs from this, and reconcile.lua re-checks each against the live state.
        """
        reply = await self._call("audit", concert_id)
        holds = await self.holds_of(concert_id)
        return Audit(version=int(reply[0]), sells=int(reply[1]), seats=_text(reply[2]), holds=holds)

    async def holds_of(self, concert_id: str) -> dict[str, StoredHold]:
        """Every hold of the concert, by HSCAN pages of about `_AUDIT_PAGE` (about a
        millisecond of Redis each, the event loop free in between); not a snapshot."""
        key = concert_keys(concert_id)[1]
        holds: dict[str, StoredHold] = {}
        cursor: int = 0
        while True:
            reply: Any = await self._redis.hscan(key, cursor, count=_AUDIT_PAGE)
            cursor, page = int(reply[0]), reply[1]
            if page:
                ids = list(page)
                decoded = json.loads(b"[" + b",".join(_bytes(page[i]) for i in ids) + b"]")
                for hold_id, hold in zip(ids, decoded, strict=True):
                    holds[_text(hold_id)] = StoredHold(
                        user_id=str(hold["u"]),
                        expires_at_ms=int(hold["e"]),
                        indexes=tuple(int(i) for i in _sequence(hold["s"])),
                    )
            if not cursor:
                return holds

    async def repair(
        self,
        concert_id: str,
        seen: Audit,
        *,
        sold: list[int],
        unsold: list[int],
        orphans: list[int],
        hold_ids: list[str],
    ) -> Repaired:
        """Apply reconciliation's repairs, each re-checked atomically (see reconcile.lua):
        `unsold` (S -> A) only if nothing was sold or changed since `seen` was read."""
        proposal = {"sold": sold, "unsold": unsold, "orphans": orphans, "holds": hold_ids}
        reply = await self._call(
            "reconcile",
            concert_id,
            seen.version,
            seen.sells,
            self._sweep_limit,
            json.dumps(proposal),
        )
        done = json.loads(reply[1])
        return Repaired(
            version=int(done["v"]),
            sold=tuple(int(i) for i in _sequence(done["sold"])),
            unsold=tuple((int(i), str(state)) for i, state in _sequence(done["unsold"])),
            orphans=tuple(int(i) for i in _sequence(done["orphans"])),
            released=tuple(str(h) for h in _sequence(done["released"])),
            deferred=tuple(int(i) for i in _sequence(done["deferred"])),
        )

    async def reset(self, concert_id: str) -> None:
        """Forget the concert's state (its layout changed before any sale or hold)."""
        # One DEL per key: in a cluster a multi-key DEL is fine here (one slot), but keep it
        # explicit so nothing depends on that.
        for key in concert_keys(concert_id)[:5]:
            await self._redis.delete(key)

    # --- the sweeper's registry of concerts with live holds -------------------------------

    async def _register(self, concert_id: str, *, force: bool = False) -> None:
        now = time.monotonic()
        last = self._registered.get(concert_id)
        if force or last is None or now - last > ACTIVE_REFRESH_SECONDS:
            self._registered[concert_id] = now
            await self._redis.zadd(ACTIVE_CONCERTS_KEY, {concert_id: time.time() * 1000})

    async def active_concerts(self) -> list[str]:
        members = await self._redis.zrange(ACTIVE_CONCERTS_KEY, 0, -1)
        return [_text(m) for m in members]

    async def forget_if_idle(self, concert_id: str) -> bool:
        """Drop a concert without live holds from the registry, unless registered recently."""
        cutoff = (time.time() - ACTIVE_FORGET_AFTER_SECONDS) * 1000
        return bool(await self._forget(keys=[ACTIVE_CONCERTS_KEY], args=[concert_id, cutoff]))

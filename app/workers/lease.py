"""Singleton jobs: a Redis lease lets one process at a time run a job, wherever it runs.

Every app process and every `python -m app worker` starts the same jobs; for a job that must
not run in several places at once (reconciliation), each process competes for a lease:

- take:    `SET key token NX PX ttl`
- renew:   `PEXPIRE` only while the key still holds our token (Lua compare-and-pexpire)
- release: `DEL` only while the key still holds our token (Lua compare-and-del)

Each command and script touches the one lease key, so this runs unchanged on Redis Cluster.
The holder keeps the lease between runs (renewing it every third of its TTL), so the job runs
once per interval whatever the number of processes; on a clean stop the holder releases it at
once, after a crash it lapses after the TTL and another process takes over. A holder that
cannot renew in time, or finds the lease taken, cancels the job mid-run.

A lease is not a lock that survives a stopped world: a process paused for longer than the TTL
may still be finishing a call while another has taken over. Jobs run under a lease therefore
stay safe if two runs overlap (reconciliation's repairs are re-checked atomically and its
payment steps are idempotent); the lease keeps them from overlapping routinely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from app.platform.redis import RedisClient
from app.workers.loop import _stop_if_cancelled

log = logging.getLogger(__name__)

LEASE_KEY_PREFIX = "encore:lease:"

_RENEW_LUA = """
-- KEYS[1] lease key; ARGV: token, ttl ms. 1 if renewed, 0 if the lease is not ours (any more).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE_LUA = """
-- KEYS[1] lease key; ARGV: token. 1 if released, 0 if the lease was not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_key(name: str) -> str:
    # A hash tag of the name: one slot per lease, whatever the prefix.
    return f"{LEASE_KEY_PREFIX}{{{name}}}"


class Lease:
    """One process's claim on a named lease; the token says who holds it (host, pid, random)."""

    def __init__(self, redis: RedisClient, name: str, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a lease needs a positive TTL")
        self.name = name
        self.key = lease_key(name)
        self.ttl_seconds = ttl_seconds
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self._redis = redis
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._renew = redis.register_script(_RENEW_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    async def acquire(self) -> bool:
        """Take the lease if it is free; True also when we hold it already (then renewed)."""
        if await self._redis.set(self.key, self.token, nx=True, px=self._ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease to a full TTL from now, only if it is still ours."""
        return bool(await self._renew(keys=[self.key], args=[self.token, self._ttl_ms]))

    async def release(self) -> bool:
        """Give the lease up, only if it is still ours; another process may take it at once."""
        return bool(await self._release(keys=[self.key], args=[self.token]))

    async def holder(self) -> str | None:
        value = await self._redis.get(self.key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)


class Singleton:
    """Run `job` every `interval_seconds`, in one process at a time, under a lease.

    Every process runs `run()`; the one holding the lease runs the job, the others try to take
    the lease every third of its TTL. Losing the lease (renewal refused, or no renewal went
    through before it would lapse) cancels a running job at once.
    """

    def __init__(
        self,
        redis: RedisClient,
        name: str,
        interval_seconds: float,
        job: Callable[[], Awaitable[object]],
        *,
        lease_ttl_seconds: float = 30.0,
    ) -> None:
        self.name = name
        self.lease = Lease(redis, name, lease_ttl_seconds)
        self._interval = interval_seconds
        self._job = job
        # Renew (and, without the lease, poll for it) three times per TTL: a renewal may fail
        # once or twice (a Redis blip) before the lease lapses.
        self._tick = lease_ttl_seconds / 3

    async def run(self) -> None:
        """Until cancelled: take the lease when free, run the job while holding it."""
        log.info(
            "job started",
            extra={"job": self.name, "interval_s": self._interval, "lease": self.lease.key},
        )
        try:
            while True:
                try:
                    taken_at = time.monotonic()
                    if await self.lease.acquire():
                        log.info("lease taken", extra={"job": self.name})
                        await self._lead(taken_at)
                        log.warning("lease lost; job stopped", extra={"job": self.name})
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("lease unavailable", extra={"job": self.name}, exc_info=True)
                _stop_if_cancelled()
                await asyncio.sleep(self._tick)
        finally:
            # A clean stop hands the job over at once instead of after the TTL.
            with contextlib.suppress(Exception):
                await self.lease.release()

    async def _lead(self, taken_at: float) -> None:
        """Run the job every interval while the lease holds; return once it is lost."""
        lost = asyncio.create_task(self._keep(taken_at), name=f"{self.name}-lease")
        work: asyncio.Task[None] | None = None
        try:
            while True:
                work = asyncio.create_task(self._run_job(), name=self.name)
                done, _ = await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    return
                done, _ = await asyncio.wait({lost}, timeout=self._interval)
                if lost in done:
                    return
        finally:
            for task in (work, lost):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _keep(self, taken_at: float) -> None:
        """Renew the lease; return when it is lost. The lease is valid until a TTL after the
        last successful take or renewal was *sent*: the job is stopped a tick before that."""
        valid_until = taken_at + self.lease.ttl_seconds
        while True:
            await asyncio.sleep(self._tick)
            sent = time.monotonic()
            try:
                if not await self.lease.renew():
                    return  # lapsed, or taken by another process: stop now
                valid_until = sent + self.lease.ttl_seconds
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lease renewal failed", extra={"job": self.name}, exc_info=True)
            if time.monotonic() + self._tick >= valid_until:
                return

    async def _run_job(self) -> None:
        try:
            await self._job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(
                "job failed; retrying next interval", extra={"job": self.name}, exc_info=True
            )


async def singleton(
    redis: RedisClient,
    name: str,
    interval_seconds: float,
    job: Callable[[], Awaitable[object]],
    *,
    lease_ttl_seconds: float = 30.0,
) -> None:
    """`Singleton(...).run()`: the job in one process at a time, every interval, until cancelled."""
    await Singleton(redis, name, interval_seconds, job, lease_ttl_seconds=lease_ttl_seconds).run()

"""Password hashing with argon2id, off the event loop, on a few threads of its own.

Parameters: OWASP's recommendation for argon2id (Password Storage Cheat Sheet): 19 MiB of
memory, 2 passes, 1 lane. The earlier ones (pwdlib's defaults: 64 MiB, 3 passes, 4 lanes)
made every hash several times dearer, and an on-sale starts with a login storm
(docs/performance.md, "Figures moved out of code comments"). Hashes made with other parameters
still verify; `verify_and_update` hands back a new hash to store (rehash at login).

Threads: hashing is CPU work, so more threads than cores only slice the same CPU thinner. Each
process hashes on at most one thread per core it may run on (`HASH_THREADS`), in a pool of its
own: a signup storm used to keep the default executor's threads (and with 4 lanes, four
times as many argon2 threads) busy, and the event loop and the store's connection threads
(one of which may hold SQLite's write lock) waited for the CPU behind them.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["ARGON2_MEMORY_KIB", "ARGON2_PARALLELISM", "ARGON2_TIME_COST", "PasswordHasher"]

ARGON2_MEMORY_KIB = 19_456  # 19 MiB
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


HASH_THREADS = _cores()
# One pool per process, whichever PasswordHasher (app, CLI, tests) uses it.
_POOL = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")


class PasswordHasher:
    def __init__(self) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    memory_cost=ARGON2_MEMORY_KIB,
                    time_cost=ARGON2_TIME_COST,
                    parallelism=ARGON2_PARALLELISM,
                ),
            )
        )
        # Verified against when the email is unknown, so a miss costs as much as a hit and
        # response time does not reveal which emails have accounts.
        self._decoy = self._hash.hash("decoy-password-for-timing")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(_POOL, self._hash.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        ok, _ = await self.verify_and_update(password, password_hash)
        return ok

    async def verify_and_update(
        self, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash to store when the stored one was made
        with other parameters (None otherwise). Without a stored hash (unknown email) the
        decoy is verified and the answer is no."""
        target = password_hash or self._decoy
        ok, updated = await asyncio.get_running_loop().run_in_executor(
            _POOL, self._hash.verify_and_update, password, target
        )
        if password_hash is None:
            return False, None
        return ok, updated

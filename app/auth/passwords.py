"""Password hashing with argon2id, off the event loop (a hash costs tens of milliseconds)."""

from __future__ import annotations

import asyncio

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class PasswordHasher:
    def __init__(self) -> None:
        self._hash = PasswordHash((Argon2Hasher(),))
        # Verified against when the email is unknown, so a miss costs as much as a hit and
        # response time does not reveal which emails have accounts.
        self._decoy = self._hash.hash("decoy-password-for-timing")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        target = password_hash or self._decoy
        ok = await asyncio.to_thread(self._hash.verify, password, target)
        return ok and password_hash is not None

"""Accounts and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select, update

from app.storage.codec import (
    as_utc,
    refresh_token_fields,
    refresh_token_from_fields,
    user_fields,
    user_from_fields,
)
from app.storage.errors import RecordNotFound
from app.storage.records import RefreshOutcome, RefreshToken, Role, User, why_not_rotated
from app.storage.sql.db import Database
from app.storage.sql.tables import refresh_tokens, users


class SqlUserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, user: User) -> None:
        async with self._db.write() as conn:
            await conn.execute(users.insert().values(**user_fields(user)))

    async def get(self, user_id: str) -> User | None:
        return await self._db.first(select(users).where(users.c.id == user_id), user_from_fields)

    async def get_by_email(self, email: str) -> User | None:
        # Emails are stored lower-cased, so the unique index serves this lookup directly.
        query = select(users).where(users.c.email == email.lower())
        return await self._db.first(query, user_from_fields)

    async def set_role(self, user_id: str, role: Role) -> None:
        await self._update(user_id, role=role)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._update(user_id, password_hash=password_hash)

    async def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        replace = (
            update(users)
            .where(users.c.id == user_id, users.c.password_hash == old_hash)
            .values(password_hash=new_hash)
        )
        async with self._db.write() as conn:
            result = await conn.execute(replace)
        return bool(result.rowcount)

    async def verify_email(self, user_id: str, email: str, at: datetime) -> User | None:
        address = email.lower()
        # The WHERE clause decides: only the address the link was sent to, and only once.
        verify = (
            update(users)
            .where(
                users.c.id == user_id,
                users.c.email == address,
                users.c.email_verified_at.is_(None),
            )
            .values(email_verified_at=as_utc(at))
        )
        async with self._db.write() as conn:
            await conn.execute(verify)
        user = await self.get(user_id)
        if user is None or user.email != address or user.email_verified_at is None:
            return None
        return user

    async def _update(self, user_id: str, **values: str) -> None:
        async with self._db.write() as conn:
            result = await conn.execute(update(users).where(users.c.id == user_id).values(values))
        if result.rowcount == 0:
            raise RecordNotFound(f"no user {user_id}")


class SqlRefreshTokenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, token: RefreshToken) -> None:
        async with self._db.write() as conn:
            await conn.execute(refresh_tokens.insert().values(**refresh_token_fields(token)))

    async def get(self, jti: str) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.jti == jti)
        return await self._db.first(query, refresh_token_from_fields)

    async def consume(self, jti: str, now: datetime) -> tuple[RefreshOutcome, RefreshToken | None]:
        now = as_utc(now)
        t = refresh_tokens.c
        # The WHERE clause is the decision: of many concurrent consumers exactly one UPDATE
        # matches (PostgreSQL re-checks it after waiting on the row lock; SQLite runs writers
        # one at a time), so there is no read-then-write window in Python.
        rotate = (
            update(refresh_tokens)
            .where(
                t.jti == jti,
                t.used_at.is_(None),
                t.revoked_at.is_(None),
                t.expires_at > now,
            )
            .values(used_at=now)
            .returning(*refresh_tokens.c)
        )
        async with self._db.write() as conn:
            rotated = (await conn.execute(rotate)).first()
            if rotated is not None:
                return RefreshOutcome.ROTATED, refresh_token_from_fields(rotated._mapping)
            # Not rotated: the row, read in the same transaction, says why.
            row = (await conn.execute(select(refresh_tokens).where(t.jti == jti))).first()
        return why_not_rotated(refresh_token_from_fields(row._mapping) if row else None)

    async def revoke_family(self, family_id: str, now: datetime) -> int:
        return await self._revoke(refresh_tokens.c.family_id == family_id, now)

    async def revoke_user(self, user_id: str, now: datetime) -> int:
        # Every family of a user is the user's: one statement on the user_id index.
        return await self._revoke(refresh_tokens.c.user_id == user_id, now)

    async def _revoke(self, which: ColumnElement[bool], now: datetime) -> int:
        now = as_utc(now)
        t = refresh_tokens.c
        revoke = (
            update(refresh_tokens)
            .where(which, t.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(t.used_at, t.expires_at)
        )
        async with self._db.write() as conn:
            revoked = (await conn.execute(revoke)).all()
        return sum(1 for used_at, expires_at in revoked if used_at is None and expires_at > now)

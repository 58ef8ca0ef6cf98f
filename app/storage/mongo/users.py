"""Accounts and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from app.storage.errors import RecordNotFound
from app.storage.mongo.codec import (
    encode_time,
    fold,
    refresh_token_document,
    refresh_token_from_document,
    user_document,
    user_from_document,
)
from app.storage.mongo.db import MongoDatabase, find_one, insert
from app.storage.mongo.translate import translated_errors
from app.storage.records import RefreshOutcome, RefreshToken, Role, User, why_not_rotated


class MongoUserRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._users = db.users

    async def add(self, user: User) -> None:
        await insert(self._users, user_document(user))

    async def get(self, user_id: str) -> User | None:
        return await find_one(self._users, {"_id": user_id}, user_from_document)

    async def get_by_email(self, email: str) -> User | None:
        # Emails are stored lower-cased, so the unique index serves this lookup directly.
        return await find_one(self._users, {"email": fold(email)}, user_from_document)

    async def set_role(self, user_id: str, role: Role) -> None:
        await self._update(user_id, {"role": role})

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._update(user_id, {"password_hash": password_hash})

    async def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        with translated_errors():
            result = await self._users.update_one(
                {"_id": user_id, "password_hash": old_hash}, {"$set": {"password_hash": new_hash}}
            )
        return result.matched_count == 1

    async def verify_email(self, user_id: str, email: str, at: datetime) -> User | None:
        address = fold(email)
        # The filter decides: only the address the link was sent to, and only once (a missing
        # field matches None too: accounts stored before the field existed).
        with translated_errors():
            await self._users.update_one(
                {"_id": user_id, "email": address, "email_verified_at": None},
                {"$set": {"email_verified_at": encode_time(at)}},
            )
        user = await self.get(user_id)
        if user is None or user.email != address or user.email_verified_at is None:
            return None
        return user

    async def _update(self, user_id: str, values: dict[str, Any]) -> None:
        with translated_errors():
            result = await self._users.update_one({"_id": user_id}, {"$set": values})
        if result.matched_count == 0:
            raise RecordNotFound(f"no user {user_id}")


class MongoRefreshTokenRepository:
    def __init__(self, db: MongoDatabase) -> None:
        self._tokens = db.refresh_tokens

    async def add(self, token: RefreshToken) -> None:
        await insert(self._tokens, refresh_token_document(token))

    async def get(self, jti: str) -> RefreshToken | None:
        return await find_one(self._tokens, {"_id": jti}, refresh_token_from_document)

    async def consume(self, jti: str, now: datetime) -> tuple[RefreshOutcome, RefreshToken | None]:
        stamp = encode_time(now)
        # The filter is the decision: findAndModify on one document is atomic, so of many
        # concurrent consumers exactly one matches a live token and marks it used.
        with translated_errors():
            rotated = await self._tokens.find_one_and_update(
                {
                    "_id": jti,
                    "used_at": None,
                    "revoked_at": None,
                    "expires_at": {"$gt": stamp},
                },
                {"$set": {"used_at": stamp}},
                return_document=ReturnDocument.AFTER,
            )
            if rotated is not None:
                return RefreshOutcome.ROTATED, refresh_token_from_document(rotated)
            # Not rotated: the document says why. It cannot become live again, so reading
            # it afterwards classifies correctly.
            doc = await self._tokens.find_one({"_id": jti})
        return why_not_rotated(refresh_token_from_document(doc) if doc else None)

    async def revoke_family(self, family_id: str, now: datetime) -> int:
        return await self._revoke({"family_id": family_id}, now)

    async def revoke_user(self, user_id: str, now: datetime) -> int:
        # Every family of a user is the user's: the user_id index finds them all.
        return await self._revoke({"user_id": user_id}, now)

    async def _revoke(self, which: dict[str, Any], now: datetime) -> int:
        stamp = encode_time(now)
        not_revoked = {**which, "revoked_at": None}
        revoke = {"$set": {"revoked_at": stamp}}
        with translated_errors():
            # Live tokens first, so their count comes from the write itself; once revoked
            # none of them can rotate. Then the used and expired rest of the family.
            live = await self._tokens.update_many(
                {**not_revoked, "used_at": None, "expires_at": {"$gt": stamp}}, revoke
            )
            await self._tokens.update_many(not_revoked, revoke)
        return live.modified_count

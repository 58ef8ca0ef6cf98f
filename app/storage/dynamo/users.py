"""Accounts (with a uniqueness item per email) and refresh tokens (grouped by family)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app.storage.codec import (
    refresh_token_fields,
    refresh_token_from_fields,
    user_fields,
    user_from_fields,
)
from app.storage.dynamo.client import (
    Item,
    Refused,
    TableRepository,
    bounded_gather,
    key_query,
    put_if_absent,
    query_items,
)
from app.storage.dynamo.codec import (
    epoch_seconds,
    get_s,
    item_of,
    n,
    reader,
    s,
    timestamp,
)
from app.storage.dynamo.tables import REFRESH_TOKENS, USERS
from app.storage.errors import RecordNotFound
from app.storage.records import RefreshOutcome, RefreshToken, Role, User, why_not_rotated

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import TransactWriteItemTypeDef

# A refresh token's items outlive its expiry by this much before DynamoDB's TTL may delete
# them, so a replayed old token is still recognised (REUSED / EXPIRED, not UNKNOWN) for that
# long. TTL deletion is lazy (days late); nothing here relies on it having happened.
REFRESH_TOKEN_RETENTION_S = 30 * 24 * 3600


def _user_key(user_id: str) -> Item:
    return {"pk": s(f"user#{user_id}")}


def _email_key(email: str) -> Item:
    return {"pk": s(f"email#{email.lower()}")}


def _user_item(user: User) -> Item:
    return {**_user_key(user.id), **item_of(user_fields(user))}


_user_from_item = reader(user_from_fields)


class DynamoUserRepository(TableRepository):
    table_name = USERS.name

    async def add(self, user: User) -> None:
        item = _user_item(user)  # a naive datetime fails here, before anything is written
        email_claim: Item = {**_email_key(user.email), "user_id": s(user.id)}
        actions = [put_if_absent(self._table, item), put_if_absent(self._table, email_claim)]
        # The account and its email claim are written together or not at all.
        await self._db.insert_together(actions, f"user id {user.id} or its email is taken")

    async def get(self, user_id: str) -> User | None:
        item = await self._db.get_item(self._table, _user_key(user_id))
        return _user_from_item(item) if item else None

    async def get_by_email(self, email: str) -> User | None:
        claim = await self._db.get_item(self._table, _email_key(email))
        if claim is None:
            return None
        return await self.get(get_s(claim, "user_id"))

    async def set_role(self, user_id: str, role: Role) -> None:
        await self._set(user_id, "role", role)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._set(user_id, "password_hash", password_hash)

    async def replace_password_hash(self, user_id: str, old_hash: str, new_hash: str) -> bool:
        # Not applied: another hash by now, or no such user.
        values = {":v": s(new_hash), ":old": s(old_hash)}
        condition = "attribute_exists(pk) AND #a = :old"
        return await self._set_if(user_id, "password_hash", values, condition)

    async def verify_email(self, user_id: str, email: str, at: datetime) -> User | None:
        address = email.lower()
        # The condition decides: only the address the link was sent to, and only once (a
        # refusal means verified before, another address, or no account: read to tell).
        await self._db.write_if(
            lambda c: c.update_item(
                TableName=self._table,
                Key=_user_key(user_id),
                UpdateExpression="SET #v = :at",
                ConditionExpression="attribute_exists(pk) AND #e = :e AND attribute_not_exists(#v)",
                ExpressionAttributeNames={"#v": "email_verified_at", "#e": "email"},
                ExpressionAttributeValues={":at": s(timestamp(at)), ":e": s(address)},
            )
        )
        user = await self.get(user_id)
        if user is None or user.email != address or user.email_verified_at is None:
            return None
        return user

    async def _set(self, user_id: str, attribute: str, value: str) -> None:
        if not await self._set_if(user_id, attribute, {":v": s(value)}, "attribute_exists(pk)"):
            raise RecordNotFound(f"no user {user_id}")

    async def _set_if(self, user_id: str, attribute: str, values: Item, condition: str) -> bool:
        """The account's `attribute` (#a) set to :v if `condition` holds; whether it was."""
        written = await self._db.write_if(
            lambda c: c.update_item(
                TableName=self._table,
                Key=_user_key(user_id),
                UpdateExpression="SET #a = :v",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#a": attribute},
                ExpressionAttributeValues=values,
            )
        )
        return not isinstance(written, Refused)


# --------------------------------------------------------------------------- refresh tokens


def _token_key(jti: str) -> Item:
    return {"pk": s(f"jti#{jti}"), "sk": s("token")}


def _member_key(family_id: str, jti: str) -> Item:
    return {"pk": s(f"family#{family_id}"), "sk": s(jti)}


def _user_family_key(user_id: str, family_id: str) -> Item:
    return {"pk": s(f"user#{user_id}"), "sk": s(f"family#{family_id}")}


def _token_item(token: RefreshToken) -> Item:
    return {
        **_token_key(token.jti),
        # used_at and revoked_at are absent until set: the consume condition tests that.
        **item_of(refresh_token_fields(token)),
        "ttl": n(epoch_seconds(token.expires_at) + REFRESH_TOKEN_RETENTION_S),
    }


_token_from_item = reader(refresh_token_from_fields)


class DynamoRefreshTokenRepository(TableRepository):
    table_name = REFRESH_TOKENS.name

    async def add(self, token: RefreshToken) -> None:
        item = _token_item(token)
        member: Item = {**_member_key(token.family_id, token.jti), "ttl": item["ttl"]}
        # The user's families, for revoke_user: written with every token (the latest token of
        # a family expires last, so its TTL is the family's).
        family: Item = {**_user_family_key(token.user_id, token.family_id), "ttl": item["ttl"]}
        actions: list[TransactWriteItemTypeDef] = [
            put_if_absent(self._table, item),
            put_if_absent(self._table, member),
            {"Put": {"TableName": self._table, "Item": family}},
        ]
        await self._db.insert_together(actions, f"refresh token {token.jti} exists")

    async def get(self, jti: str) -> RefreshToken | None:
        item = await self._db.get_item(self._table, _token_key(jti))
        return _token_from_item(item) if item else None

    async def consume(self, jti: str, now: datetime) -> tuple[RefreshOutcome, RefreshToken | None]:
        at = timestamp(now)
        # The condition is the decision: of many concurrent consumers exactly one update
        # passes it; DynamoDB applies writes to one item one at a time.
        written = await self._db.write_if(
            lambda c: c.update_item(
                TableName=self._table,
                Key=_token_key(jti),
                UpdateExpression="SET used_at = :now",
                ConditionExpression=(
                    "attribute_exists(pk) AND attribute_not_exists(used_at)"
                    " AND attribute_not_exists(revoked_at) AND expires_at > :now"
                ),
                ExpressionAttributeValues={":now": s(at)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
        if not isinstance(written, Refused):
            return RefreshOutcome.ROTATED, _token_from_item(written["Attributes"])
        found = written.old or await self._db.get_item(self._table, _token_key(jti))
        return why_not_rotated(_token_from_item(found) if found else None)

    async def revoke_family(self, family_id: str, now: datetime) -> int:
        at = timestamp(now)
        jtis = await self._family(family_id)
        revoked = await bounded_gather(self._revoke(jti, at) for jti in jtis)
        return sum(revoked)

    async def revoke_user(self, user_id: str, now: datetime) -> int:
        families = await self._members(f"user#{user_id}")
        revoked = await bounded_gather(
            self.revoke_family(family.removeprefix("family#"), now) for family in families
        )
        return sum(revoked)

    async def _family(self, family_id: str) -> list[str]:
        """Every jti of the family, read strongly consistently: a token rotated a moment ago
        is included (a GSI could still be missing it)."""
        return await self._members(f"family#{family_id}")

    async def _members(self, pk: str) -> list[str]:
        """The sort keys under a membership partition (a family's jtis, a user's families)."""
        request = key_query(self._table, "pk = :pk", {":pk": s(pk)}, consistent=True)
        return [get_s(item, "sk") for item in await query_items(self._db, request)]

    async def _revoke(self, jti: str, at: str) -> int:
        """1 if the token was live when revoked here, else 0."""
        written = await self._db.write_if(
            lambda c: c.update_item(
                TableName=self._table,
                Key=_token_key(jti),
                UpdateExpression="SET revoked_at = :now",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":now": s(at)},
                ReturnValues="ALL_OLD",
            )
        )
        if isinstance(written, Refused):
            return 0  # revoked already (or its items expired away)
        before = written["Attributes"]
        live = "used_at" not in before and get_s(before, "expires_at") > at
        return 1 if live else 0

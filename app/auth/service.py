"""Accounts (Accounts) and their logins (Sessions). Refresh tokens rotate; replaying a used one
revokes its whole family.

Signup is safe to retry: the account row and the login's refresh token are two writes, and
when the second (or the answer) is lost, the client's retry with the same email and password
within SIGNUP_RETRY_WINDOW logs that account in (201) instead of answering 409 EmailTaken.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from app.auth.emails import lookup_forms, normalize_email
from app.auth.errors import EmailTaken, InvalidCredentials
from app.auth.passwords import PasswordHasher
from app.auth.schemas import AccessToken, AuthResult, TokenPair, UserRead
from app.auth.tokens import TokenService
from app.errors import NotAuthenticated, ServiceUnavailable
from app.storage.errors import DuplicateKey, StoreUnavailable
from app.storage.ports import Store
from app.storage.records import RefreshOutcome, RefreshToken, Role, User

log = logging.getLogger(__name__)

# How long after an account was created a signup with its email and password logs it in
# instead of answering 409: long enough for a client's retries after a 503 or a lost answer.
SIGNUP_RETRY_WINDOW = timedelta(minutes=10)


class Accounts:
    """Accounts and their passwords."""

    def __init__(self, store: Store, passwords: PasswordHasher) -> None:
        self._store = store
        self._passwords = passwords

    async def _find(self, email: str) -> list[User]:
        """The accounts an address may name: under its normalised form, then under the form
        accounts created before NFKC + casefold were stored under (app/auth/emails.py). Plain
        ASCII addresses have one form: one lookup."""
        found: list[User] = []
        for form in lookup_forms(email):
            user = await self._store.users.get_by_email(form)
            if user is not None and user not in found:
                found.append(user)
        return found

    async def create_user(self, email: str, password: str, name: str, role: Role) -> User:
        # An account stored under the old form of this very address is the same account.
        for legacy in lookup_forms(email)[1:]:
            if await self._store.users.get_by_email(legacy) is not None:
                raise EmailTaken()
        user = User(
            id=str(uuid.uuid4()),
            email=normalize_email(email),
            name=name,
            password_hash=await self._passwords.hash(password),
            role=role,
            created_at=datetime.now(UTC),
        )
        try:
            await self._store.users.add(user)
        except DuplicateKey as exc:
            raise EmailTaken() from exc
        return user

    async def retried_signup(self, email: str, password: str) -> User | None:
        """The account an earlier attempt of this very signup created: same address, same
        password, a buyer account created within SIGNUP_RETRY_WINDOW. One password check, the
        same work whether or not there is such an account (it counts in the address's login
        window like a login: the route has the per-email limit)."""
        since = datetime.now(UTC) - SIGNUP_RETRY_WINDOW
        recent = [u for u in await self._find(email) if u.role == "user" and u.created_at >= since]
        candidate = recent[0] if recent else None
        if await self._passwords.verify(password, candidate.password_hash if candidate else None):
            return candidate
        return None

    async def authenticate(self, email: str, password: str) -> User:
        accounts = await self._find(email)
        # Same work and the same answer whether the email is unknown or the password is wrong.
        if not accounts:
            await self._passwords.verify(password, None)
        for user in accounts:  # two only for an address both forms of which have an account
            ok, updated = await self._passwords.verify_and_update(password, user.password_hash)
            if ok:
                if updated is not None:
                    await self._upgrade_hash(user, updated)
                return user
        raise InvalidCredentials()

    async def _upgrade_hash(self, user: User, password_hash: str) -> None:
        """Store a hash made with the current argon2 parameters in place of the older one just
        verified, unless the hash changed meanwhile (a password change: the rehash of the old
        password must not undo it). Best effort: the older hash still works, the next login
        tries again."""
        try:
            replaced = await self._store.users.replace_password_hash(
                user.id, user.password_hash, password_hash
            )
        except (StoreUnavailable, ServiceUnavailable):
            log.warning(
                "password rehash not stored; next login retries", extra={"user_id": user.id}
            )
            return
        if replaced:
            log.info("password rehashed with the current parameters", extra={"user_id": user.id})

    async def account(self, user_id: str) -> User:
        user = await self._store.users.get(user_id)
        if user is None:
            raise NotAuthenticated("The account no longer exists; log in again.")
        return user

    async def me(self, user_id: str) -> UserRead:
        return UserRead.model_validate(await self.account(user_id))

    async def change_password(self, user: User, current: str, new: str) -> None:
        """Store the new password's hash, then end every login of the account (every refresh
        token family), so a stolen refresh token dies with the old password.

        Safe to retry: when `current` is wrong but `new` is already the password (the change
        went through and the revocation did not answer), the logins are ended again. That
        answers "is `new` the password?" like a login does, and counts in the same per-email
        window."""
        if not await self._passwords.verify(current, user.password_hash):
            if not await self._passwords.verify(new, user.password_hash):
                raise InvalidCredentials("The current password is wrong.")
        else:
            await self._store.users.set_password_hash(user.id, await self._passwords.hash(new))
        revoked = await self._store.refresh_tokens.revoke_user(user.id, datetime.now(UTC))
        log.info(
            "password changed; every login ended", extra={"user_id": user.id, "revoked": revoked}
        )

    async def ensure_admin(self, email: str, password: str) -> User:
        """Make sure an admin with this email and password exists (idempotent)."""
        accounts = await self._find(email)
        if not accounts:
            try:
                return await self.create_user(email, password, "Admin", role="admin")
            except EmailTaken:  # another replica created it a moment ago
                accounts = await self._find(email)
                assert accounts
        existing = accounts[0]
        if existing.role != "admin":
            await self._store.users.set_role(existing.id, "admin")
        ok, updated = await self._passwords.verify_and_update(password, existing.password_hash)
        if not ok or updated is not None:  # another password, or older argon2 parameters
            new_hash = updated or await self._passwords.hash(password)
            await self._store.users.set_password_hash(existing.id, new_hash)
        refreshed = await self._store.users.get(existing.id)
        assert refreshed is not None
        return refreshed


class Sessions:
    """Logins: the token pairs handed to an account, their rotation and their end."""

    def __init__(
        self,
        store: Store,
        tokens: TokenService,
        accounts: Accounts,
        *,
        on_signup: Callable[[User], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._accounts = accounts
        # After a new account is created (not a retried signup): the verification mail.
        self._on_signup = on_signup

    async def _issue_pair(self, user_id: str, role: str, family: str) -> TokenPair:
        refresh = self._tokens.issue("refresh", user_id, role, family=family)
        await self._store.refresh_tokens.add(
            RefreshToken(
                jti=refresh.jti,
                user_id=user_id,
                family_id=family,
                issued_at=refresh.issued_at,
                expires_at=refresh.expires_at,
            )
        )
        access = self._tokens.issue("access", user_id, role)
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh.token,
            expires_in=self._tokens.access_ttl_seconds,
        )

    async def _login_result(self, user: User) -> AuthResult:
        pair = await self._issue_pair(user.id, user.role, family=uuid.uuid4().hex)
        return AuthResult(**pair.model_dump(), user=UserRead.model_validate(user))

    async def signup(self, email: str, password: str, name: str) -> AuthResult:
        try:
            user = await self._accounts.create_user(email, password, name, role="user")
        except EmailTaken:
            retried = await self._accounts.retried_signup(email, password)
            if retried is None:
                raise
            log.info("signup retried; logged in", extra={"user_id": retried.id})
            return await self._login_result(retried)
        log.info("user signed up", extra={"user_id": user.id})
        if self._on_signup is not None:
            await self._on_signup(user)
        return await self._login_result(user)

    async def login(self, email: str, password: str) -> AuthResult:
        user = await self._accounts.authenticate(email, password)
        return await self._login_result(user)

    async def password_grant(self, email: str, password: str) -> AccessToken:
        """An access token only: Swagger's Authorize button has no use for a refresh token."""
        user = await self._accounts.authenticate(email, password)
        return AccessToken(access_token=self._tokens.issue("access", user.id, user.role).token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = self._tokens.decode(refresh_token, "refresh")
        now = datetime.now(UTC)
        outcome, record = await self._store.refresh_tokens.consume(claims.jti, now)
        if outcome is RefreshOutcome.REUSED and record is not None:
            # A rotated token came back: either the client retried or someone stole it. We
            # can't tell which, so the whole family (every session from that login) is revoked.
            revoked = await self._store.refresh_tokens.revoke_family(record.family_id, now)
            log.warning(
                "refresh token reuse; family revoked",
                extra={
                    "user_id": record.user_id,
                    "family_id": record.family_id,
                    "revoked": revoked,
                },
            )
            raise NotAuthenticated("This refresh token was already used; log in again.")
        if outcome is not RefreshOutcome.ROTATED or record is None:
            raise NotAuthenticated("This refresh token is no longer valid; log in again.")
        user = await self._store.users.get(record.user_id)
        if user is None:
            raise NotAuthenticated("The account no longer exists.")
        pair = await self._issue_pair(user.id, user.role, family=record.family_id)
        # A logout or a password change that ran between the rotation above and the new token's
        # write revoked the family without the new token: if the rotated token is revoked by
        # now, end the family again (the new token with it). After this read, a revocation
        # finds the new token stored.
        rotated = await self._store.refresh_tokens.get(claims.jti)
        if rotated is None or rotated.revoked_at is not None:
            await self._store.refresh_tokens.revoke_family(record.family_id, now)
            raise NotAuthenticated("This login was ended meanwhile; log in again.")
        return pair

    async def logout(self, refresh_token: str) -> None:
        """End the login a refresh token belongs to: every token of its family, the used ones'
        successors included. Idempotent: a used, revoked or expired token of ours still ends
        it (204); only a token we did not sign is refused. Access tokens already issued to that
        login stay valid until they expire (they are not looked up anywhere)."""
        claims = self._tokens.decode(refresh_token, "refresh", allow_expired=True)
        if claims.family is None:
            raise NotAuthenticated("This refresh token belongs to no login; log in again.")
        revoked = await self._store.refresh_tokens.revoke_family(claims.family, datetime.now(UTC))
        log.info("logged out", extra={"user_id": claims.sub, "revoked": revoked})

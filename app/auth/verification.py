"""Email verification (docs/mail.md, "Email verification").

- **The link.** `<PUBLIC_BASE_URL>/verify-email?token=...`: the token is a JWT (HS256) signed
  with a key derived from the JWT secret for this purpose only (its own audience and `typ`,
  so it is never an access token and an access token is never one), naming the account and the
  address it was sent to, valid EMAIL_VERIFICATION_TTL_SECONDS (48 h by default). Nothing is
  stored for it: a link sent to an address the account no longer has verifies nothing.
- **Sending.** Signup (EMAIL_VERIFICATION_AT_SIGNUP) and `POST /auth/verify-email/resend`
  publish `email.verification_requested` (the account's id and a request id, no address, no
  token); the ticket-delivery consumer mints the link and mails it (app/mail/verification.py),
  once per request. Nothing is mailed inside the request.
- **Verifying.** `POST /auth/verify-email {token}` marks the address verified, once
  (the store's `verify_email` is conditional on the address and idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from app.auth.errors import EmailAlreadyVerified, InvalidVerificationToken
from app.errors import NotAuthenticated
from app.events.publisher import EventPublisher
from app.events.schemas import EmailVerificationRequested
from app.settings import Settings
from app.storage.ports import Store
from app.storage.records import User

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
PURPOSE = "verify-email"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "email", "typ"]


def _purpose_key(secret: str) -> bytes:
    """The JWT secret's key for this purpose only (a leak of one is not the other)."""
    return hmac.new(secret.encode(), f"encore:{PURPOSE}".encode(), hashlib.sha256).digest()


class VerificationTokens:
    """Signs and reads the links' tokens (keys rotate with JWT_SECRET / JWT_PREVIOUS_SECRETS)."""

    def __init__(self, settings: Settings) -> None:
        self._kid = settings.jwt_kid
        self._keys = {
            kid: _purpose_key(secret) for kid, secret in settings.verification_keys.items()
        }
        self._issuer = settings.jwt_issuer
        self._audience = f"{settings.jwt_audience}:{PURPOSE}"
        self.ttl = timedelta(seconds=settings.email_verification_ttl_seconds)

    def issue(self, user: User, *, now: datetime | None = None) -> str:
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "typ": PURPOSE,
            "sub": user.id,
            "email": user.email.lower(),
            "jti": uuid.uuid4().hex,  # each mail's link is its own
            "iat": now,
            "exp": now + self.ttl,
        }
        return jwt.encode(
            claims, self._keys[self._kid], algorithm=ALGORITHM, headers={"kid": self._kid}
        )

    def read(self, token: str) -> tuple[str, str]:
        """(account id, address) of a genuine, unexpired token; else InvalidVerificationToken."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != ALGORITHM:
                raise InvalidVerificationToken()
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidVerificationToken(
                "This verification link has expired. Log in and ask for a new one on your "
                "account page."
            ) from exc
        except jwt.PyJWTError as exc:
            raise InvalidVerificationToken() from exc
        user_id, email = claims.get("sub"), claims.get("email")
        if (
            claims.get("typ") != PURPOSE
            or not isinstance(user_id, str)
            or not isinstance(email, str)
        ):
            raise InvalidVerificationToken()
        return user_id, email

    def link(self, public_base_url: str, user: User) -> str:
        return f"{public_base_url.rstrip('/')}/verify-email?token={self.issue(user)}"


class EmailVerification:
    """Asks for verification mails and verifies addresses."""

    def __init__(self, store: Store, tokens: VerificationTokens, events: EventPublisher) -> None:
        self._store = store
        self.tokens = tokens
        self._events = events

    async def request(self, user: User) -> None:
        """Have a link mailed to the account's address (by the mail consumer, not here)."""
        ids = await self._events.publish(
            EmailVerificationRequested(user_id=user.id, request_id=uuid.uuid4().hex)
        )
        log.info("email verification requested", extra={"user_id": user.id, "queued": bool(ids)})

    async def resend(self, user_id: str) -> User:
        """Another link for a logged-in account (the route limits how often)."""
        user = await self._store.users.get(user_id)
        if user is None:
            raise NotAuthenticated("The account no longer exists; log in again.")
        if user.email_verified_at is not None:
            raise EmailAlreadyVerified()
        await self.request(user)
        return user

    async def verify(self, token: str) -> User:
        user_id, email = self.tokens.read(token)
        user = await self._store.users.verify_email(user_id, email, datetime.now(UTC))
        if user is None:
            raise InvalidVerificationToken(
                "This verification link was sent to an address your account no longer uses "
                "(or the account is gone). Log in and ask for a new one on your account page."
            )
        log.info("email verified", extra={"user_id": user.id})
        return user

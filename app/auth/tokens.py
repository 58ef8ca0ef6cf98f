"""JWT access and refresh tokens (PyJWT, HS256 pinned, kid-based key rotation)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from app.auth.issued import IssuedTokens
from app.errors import NotAuthenticated
from app.settings import Settings

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh"]
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ"]
LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    jti: str
    typ: TokenType
    role: str
    family: str | None
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._kid = settings.jwt_kid
        self._keys = settings.verification_keys
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = {
            "access": timedelta(seconds=settings.access_token_ttl_seconds),
            "refresh": timedelta(seconds=settings.refresh_token_ttl_seconds),
        }
        # The header segment `issue` writes for each key: tokens carrying exactly one of these
        # are checked by the fast path (app/auth/issued.py), every other token by PyJWT.
        self._issued = IssuedTokens(
            {
                jwt.encode({}, key, algorithm=ALGORITHM, headers={"kid": kid}).split(".")[0]: (
                    key.encode()
                )
                for kid, key in self._keys.items()
            },
            issuer=self._issuer,
            audience=self._audience,
            required=tuple(_REQUIRED),
            leeway=LEEWAY_SECONDS,
        )

    @property
    def access_ttl_seconds(self) -> int:
        return int(self._ttl["access"].total_seconds())

    def issue(
        self, typ: TokenType, user_id: str, role: str, family: str | None = None
    ) -> IssuedToken:
        now = datetime.now(UTC).replace(microsecond=0)
        expires_at = now + self._ttl[typ]
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "typ": typ,
            "role": role,
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
        }
        if family is not None:
            claims["fam"] = family
        token = jwt.encode(
            claims, self._keys[self._kid], algorithm=ALGORITHM, headers={"kid": self._kid}
        )
        return IssuedToken(token=token, jti=jti, issued_at=now, expires_at=expires_at)

    def decode(self, token: str, expected: TokenType, *, allow_expired: bool = False) -> Claims:
        """The claims of one of our tokens of type `expected`, else NotAuthenticated.
        `allow_expired`: an expired but genuine token is accepted (logout ends a login with
        whatever refresh token the client still has)."""
        claims = self._issued.verify(token) or self._verified(token, allow_expired)
        if claims.get("typ") != expected:
            raise NotAuthenticated(f"A {expected} token is required here.")
        return _claims_of(claims, expected)

    def _verified(self, token: str, allow_expired: bool = False) -> dict[str, Any]:
        """PyJWT's verification, for every token the fast path did not accept."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != ALGORITHM:
                raise NotAuthenticated("The token was not signed by a key we accept; log in again.")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED, "verify_exp": not allow_expired},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            raise NotAuthenticated("The token has expired; refresh it or log in again.") from exc
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("The token is invalid; log in again.") from exc
        return claims


def _claims_of(claims: dict[str, Any], typ: TokenType) -> Claims:
    """The claims of a token whose signature verified, if they are of the types `issue`
    writes: a correctly signed token with a string `exp` or a time past the year 9999 (PyJWT
    takes `"exp": "9999999999"` and any integer) is refused like any invalid token, never a
    500."""
    exp, iat, nbf = claims["exp"], claims["iat"], claims["nbf"]
    sub, jti = claims["sub"], claims["jti"]
    role, family = claims.get("role", "user"), claims.get("fam")
    plain = (
        all(type(t) is int for t in (exp, iat, nbf))
        and isinstance(sub, str)
        and isinstance(jti, str)
        and isinstance(role, str)
        and (family is None or isinstance(family, str))
    )
    try:
        if not plain:
            raise ValueError("a claim of the wrong type")
        issued_at = datetime.fromtimestamp(iat, UTC)
        expires_at = datetime.fromtimestamp(exp, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise NotAuthenticated("The token is invalid; log in again.") from exc
    return Claims(
        sub=sub,
        jti=jti,
        typ=typ,
        role=role,
        family=family,
        issued_at=issued_at,
        expires_at=expires_at,
    )

"""Who is calling: the one place that turns a request's bearer token into a `Principal`.

A token is verified by PyJWT (`TokenService.decode`) once per process and then remembered in a
bounded LRU until it expires: a buyer reuses one access token for its whole lifetime. The
answer is also kept in the request's scope, so the rate limiter (which needs the caller before
routing) and the route's `CurrentUser` dependency (after routing) verify a token once between
them. Nothing else in the app reads the Authorization header.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.types import Scope

from app.api import API_PREFIX
from app.auth.tokens import LEEWAY_SECONDS, TokenService
from app.errors import Forbidden, NotAuthenticated

__all__ = [
    "AdminUser",
    "CurrentUser",
    "Principal",
    "Principals",
    "admin_user",
    "current_user",
    "principal_of",
]

TOKEN_CACHE_SIZE = 10_000  # remembered access tokens (docs/performance.md has their memory)
MAX_TOKEN_BYTES = 4096  # longer bearer values are not ours: not decoded, not remembered
_SCOPE_KEY = "encore.principal"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a verified access token (no store read: the token carries the role)."""

    id: str
    role: str
    expires_at: float  # the token's `exp`, seconds since the epoch

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Principals:
    """Access token -> Principal, verified once per token and remembered until it expires."""

    def __init__(self, tokens: TokenService, size: int = TOKEN_CACHE_SIZE) -> None:
        self._tokens = tokens
        self._size = size
        self._known: OrderedDict[str, Principal] = OrderedDict()

    def verify(self, token: str) -> Principal:
        """The caller of this access token, else NotAuthenticated (saying why)."""
        known = self._known.get(token)
        if known is not None and _unexpired(known):
            self._known.move_to_end(token)
            return known
        self._known.pop(token, None)
        claims = self._tokens.decode(token, "access")
        principal = Principal(claims.sub, claims.role, claims.expires_at.timestamp())
        if len(token) <= MAX_TOKEN_BYTES:
            self._known[token] = principal
            if len(self._known) > self._size:
                self._known.popitem(last=False)
        return principal

    def of_request(self, scope: Scope) -> Principal | None:
        """The caller of a request (its `Authorization: Bearer` token), or None when there is
        no token or it does not verify (the route then answers 401). Kept in the scope."""
        if _SCOPE_KEY in scope:
            stashed: tuple[str, Principal | None] = scope[_SCOPE_KEY]
            return stashed[1]
        token = _bearer_token(scope)
        principal: Principal | None = None
        if token is not None:
            try:
                principal = self.verify(token)
            except NotAuthenticated:
                principal = None
        scope[_SCOPE_KEY] = (token, principal)
        return principal


def _unexpired(principal: Principal) -> bool:
    # TokenService.decode's leeway: a remembered token is never accepted longer than PyJWT would.
    return time.time() < principal.expires_at + LEEWAY_SECONDS


def _bearer_token(scope: Scope) -> str | None:
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
    if authorization is None:
        return None
    kind, _, token = authorization.partition(b" ")
    token = token.strip()
    if kind.lower() != b"bearer" or not token or len(token) > MAX_TOKEN_BYTES:
        return None
    text: str = token.decode("latin-1")
    return text


# auto_error=False: a missing token must render as our NotAuthenticated error, not FastAPI's.
# The scheme is what the OpenAPI document (Swagger's Authorize button) shows.
_bearer = OAuth2PasswordBearer(tokenUrl=f"{API_PREFIX}/auth/token", auto_error=False)


def principal_of(request: Request, token: str) -> Principal:
    """The caller of this bearer token: the one the rate limiter found for this very request
    (kept in its scope), else verified now; NotAuthenticated (saying why) if it does not verify."""
    stashed = request.scope.get(_SCOPE_KEY)
    if stashed is not None and stashed[0] == token and stashed[1] is not None:
        principal: Principal = stashed[1]
        if _unexpired(principal):
            return principal
    principals: Principals = request.app.state.principals
    return principals.verify(token)


async def current_user(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    """The route's caller; 401 without a valid access token."""
    if not token:
        raise NotAuthenticated()
    return principal_of(request, token)


CurrentUser = Annotated[Principal, Depends(current_user)]


async def admin_user(user: CurrentUser) -> Principal:
    if not user.is_admin:
        raise Forbidden("Only organisers (admin accounts) can do this.")
    return user


AdminUser = Annotated[Principal, Depends(admin_user)]

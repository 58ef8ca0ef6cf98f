"""Verifying our own tokens without PyJWT's general machinery, when they look exactly as issued.

A deliberate second path beside PyJWT (docs/performance.md, "Deliberate second paths", has
what it is worth). Every authenticated request verifies its access token, and in an on-sale
most tokens are new to the process that sees them (tens of thousands of buyers, each token
verified once per worker before app/auth/principal.py's cache knows it). PyJWT's `decode` is
general: it parses the header twice (once to pick the key by `kid`), looks the algorithm up,
prepares the key, and runs each claim check through its options.

`IssuedTokens.verify` is a fast path that accepts only what is certainly valid and leaves every
other token to PyJWT:
- the header segment must be byte for byte one that TokenService itself writes (HS256, one of
  our kids, nothing else), so the key and the algorithm are known without parsing anything
  the sender chose;
- the signature segment must be, character for character, the unpadded base64url of the
  HMAC-SHA256 of `header.payload` with that kid's key (`hmac.compare_digest`), and the payload
  segment the canonical base64url of its bytes: recent PyJWT (2.15 here) refuses segments whose
  unused padding bits are set, which plain base64 decoding ignores;
- the payload must be a JSON object with every required claim, integer times, `iss` and `aud`
  equal to ours, string `sub` and `jti`, and be inside its validity window with PyJWT's leeway.
Anything else (a header we did not write, a bad signature, an odd claim, an expired token)
answers None, and the caller verifies the token with PyJWT, which accepts or refuses it with
the usual error. The fast path can only say yes to tokens PyJWT says yes to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["IssuedTokens"]


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64encode(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


class IssuedTokens:
    def __init__(
        self,
        headers: Mapping[str, bytes],
        *,
        issuer: str,
        audience: str,
        required: tuple[str, ...],
        leeway: float,
    ) -> None:
        """`headers`: the exact header segment TokenService writes for each key -> that key."""
        self._keys = dict(headers)
        self._issuer = issuer
        self._audience = audience
        self._required = required
        self._leeway = leeway

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token certainly valid, or None to let PyJWT decide."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, payload, signature = parts
        key = self._keys.get(header)
        if key is None:
            return None
        try:
            signing_input = f"{header}.{payload}".encode("ascii")
            expected = _b64encode(hmac.new(key, signing_input, hashlib.sha256).digest())
            if not hmac.compare_digest(expected, signature.encode("ascii")):
                return None
            raw = _b64decode(payload)
            if _b64encode(raw) != payload.encode("ascii"):
                return None
            claims = json.loads(raw)
        except (ValueError, binascii.Error):  # UnicodeError and JSONDecodeError too
            return None
        return claims if self._plainly_valid(claims) else None

    def _plainly_valid(self, claims: object) -> bool:
        if not isinstance(claims, dict) or any(c not in claims for c in self._required):
            return False
        times = (claims["exp"], claims["nbf"], claims["iat"])
        if not all(type(t) is int for t in times):
            return False
        if claims["iss"] != self._issuer or claims["aud"] != self._audience:
            return False
        if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
            return False
        now = time.time()
        exp: int = claims["exp"]
        started = max(claims["nbf"], claims["iat"])  # neither may be in the future
        return exp > now - self._leeway and started <= now + self._leeway
